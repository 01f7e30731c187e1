"""Prometheus metrics. The names are part of hangard's interface (README,
alert rules, dashboard); label values are bounded by the config: images,
tags and targets come from the desired state, registries and schedules from
the config, methods are HTTP's few, reasons are the values of
:class:`hangard.errors.Reason` and nothing else. The registry also carries
prometheus_client's process and platform collectors (``process_*``,
``python_info``)."""

from __future__ import annotations

import contextlib
import platform
from collections.abc import Iterable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)

from hangard import __version__, buildinfo
from hangard.daemon.itemseries import ItemSeries, ItemState
from hangard.errors import Reason

__all__ = ["CYCLE_RESULTS", "Metrics"]

CYCLE_RESULTS = ("success", "failure")

#: registry answers take milliseconds to a minute (a slow blob upload's
#: final PUT, a registry under load); the default buckets stop at 10 s
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

# ``*_created`` series double the output and nothing here uses them
disable_created_metrics()  # type: ignore[no-untyped-call]


class Metrics:
    """Every hangard metric, on its own registry (tests make many)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self._items(self.registry)
        self._cycles(self.registry)
        self._transfers(self.registry)
        self._service(self.registry)

    def _items(self, r: CollectorRegistry) -> None:
        """Per (image, tag, target): is it where it should be? (Items that
        differ only by destination share a label set; the recorder
        aggregates them, see :func:`hangard.daemon.recorder.export_item`.)"""
        self.items = ItemSeries()
        self.failures = Counter(
            "hangard_copy_failures",
            "Failed copies (and failed observations) by reason",
            ("image", "target", "reason"),
            registry=r,
        )

    def _cycles(self, r: CollectorRegistry) -> None:
        """How the sync cycles go."""
        self.cycles = Counter(
            "hangard_sync_cycles", "Sync cycles by result", ("result",), registry=r
        )
        self.cycle_duration = Histogram(
            "hangard_sync_cycle_duration_seconds",
            "Duration of sync cycles",
            buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
            registry=r,
        )
        self.last_good_cycle = Gauge(
            "hangard_last_successful_cycle_timestamp_seconds",
            "When a cycle of the schedule last finished without failures",
            ("schedule",),
            registry=r,
        )
        self.cycle_timeouts = Counter(
            "hangard_sync_cycle_timeouts",
            "Cycles cancelled because they ran past the cycle timeout",
            ("schedule",),
            registry=r,
        )
        self.schedule_cycles = Counter(
            "hangard_schedule_cycles",
            "Sync cycles of each schedule by result",
            ("schedule", "result"),
            registry=r,
        )
        for result in CYCLE_RESULTS:
            self.cycles.labels(result=result)
        self.prune_deletions = Counter(
            "hangard_prune_deletions",
            "Target tags the prune step handled, by result (deleted, kept, failed)",
            ("target", "result"),
            registry=r,
        )

    def _transfers(self, r: CollectorRegistry) -> None:
        """What moved, and how the registries answered."""
        self.bytes_copied = Counter(
            "hangard_bytes_copied", "Blob bytes uploaded", ("target_registry",), registry=r
        )
        self.blobs = Counter("hangard_blobs", "Blobs handled by outcome", ("result",), registry=r)
        for result in ("copied", "mounted", "present"):
            self.blobs.labels(result=result)
        self.requests = Counter(
            "hangard_registry_requests",
            "HTTP requests to registries",
            ("registry", "method", "code"),
            registry=r,
        )
        self.request_duration = Histogram(
            "hangard_registry_request_duration_seconds",
            "Time from sending a request to a registry to its answer's headers",
            ("registry", "method"),
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        # each (registry, method, status)'s two series, looked up once
        self._response_series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self.ratelimit_remaining = Gauge(
            "hangard_registry_ratelimit_remaining",
            "Last ratelimit-remaining a registry reported",
            ("registry",),
            registry=r,
        )

    def _service(self, r: CollectorRegistry) -> None:
        """The config and the build."""
        self.reload_ok = Gauge(
            "hangard_config_last_reload_successful",
            "1 when the last config (re)load succeeded",
            registry=r,
        )
        self.reload_time = Gauge(
            "hangard_config_last_reload_timestamp_seconds",
            "When the config was last (re)loaded, successfully or not",
            registry=r,
        )
        self.desired = Gauge(
            "hangard_desired_images",
            "items (image, tag, target, destination) of the desired state this instance manages",
            registry=r,
        )
        self.items_owned = Gauge(
            "hangard_items_owned",
            "items this instance owns: all of the desired state's, or its shard's",
            registry=r,
        )
        self.shard_info = Gauge(
            "hangard_shard_info",
            "this instance's shard, of shards",
            ("shard", "shards"),
            registry=r,
        )
        self.build_info = Gauge(
            "hangard_build_info",
            "Always 1; the labels say which hangard this is",
            ("version", "revision", "python_version"),
            registry=r,
        )
        self.build_info.labels(
            version=__version__,
            revision=buildinfo.git_revision() or "unknown",
            python_version=platform.python_version(),
        ).set(1)

    def count_failure(self, image: str, target: str, reason: Reason) -> None:
        """One more failure of ``image`` to ``target``; the only way the
        ``reason`` label is set, so it never holds anything but a Reason."""
        self.failures.labels(image=image, target=target, reason=Reason(reason).value).inc()

    def set_schedules(self, last_good: dict[str, float]) -> None:
        """The configured schedules and when each last had a good cycle;
        series of schedules no longer configured are dropped."""
        for metric in (self.last_good_cycle, self.cycle_timeouts, self.schedule_cycles):
            for sample_metric in metric.collect():
                for sample in sample_metric.samples:
                    schedule = sample.labels.get("schedule")
                    if schedule is not None and schedule not in last_good:
                        rest = [v for k, v in sample.labels.items() if k != "schedule"]
                        with contextlib.suppress(KeyError):
                            metric.remove(schedule, *rest)
        for schedule, when in last_good.items():
            self.last_good_cycle.labels(schedule=schedule).set(when)
            self.cycle_timeouts.labels(schedule=schedule)
            for result in CYCLE_RESULTS:
                self.schedule_cycles.labels(schedule=schedule, result=result)

    def count_response(self, registry: str, method: str, status: int, seconds: float) -> None:
        """One answer from ``registry``: counted, and timed to its headers."""
        key = (registry, method, status)
        series = self._response_series.get(key)
        if series is None:  # a label lookup per request costs more than the count
            series = self._response_series[key] = (
                self.requests.labels(registry=registry, method=method, code=str(status)),
                self.request_duration.labels(registry=registry, method=method),
            )
        series[0].inc()
        series[1].observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry) + self.items.render().encode()

    def set_item_state(
        self,
        key: tuple[str, str, str],
        *,
        in_sync: bool,
        drift: bool,
        missing: bool,
        last_success: float | None,
        consecutive_failures: int,
    ) -> None:
        self.items.set(key, ItemState(in_sync, drift, missing, last_success, consecutive_failures))

    def set_attachments_missing(self, key: tuple[str, str, str], count: int) -> None:
        """How many attachments the source has and the target lacks."""
        self.items.set_attachments_missing(key, count)

    def forget_items(self, keep: Iterable[tuple[str, str, str]]) -> None:
        """Drop series of items no longer in the desired state."""
        self.items.keep_only(keep)
