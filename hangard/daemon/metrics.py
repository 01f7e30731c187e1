"""Prometheus metrics. The names are part of hangard's interface (README,
alert rules, dashboard); label values are bounded by the config: images,
tags and targets come from the desired state, registries from the config,
reasons are the values of :class:`hangard.errors.Reason` and nothing else."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from hangard import __version__
from hangard.daemon.itemseries import ItemSeries, ItemState
from hangard.errors import Reason

__all__ = ["Metrics"]

# ``*_created`` series double the output and nothing here uses them
disable_created_metrics()  # type: ignore[no-untyped-call]


class Metrics:
    """Every hangard metric, on its own registry (tests make many)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
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
        for result in ("success", "failure"):
            self.cycles.labels(result=result)

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
            "hangard_desired_images", "(image, tag, target) items in the desired state", registry=r
        )
        self.build_info = Gauge("hangard_build_info", "hangard version", ("version",), registry=r)
        self.build_info.labels(version=__version__).set(1)

    def count_failure(self, image: str, target: str, reason: Reason) -> None:
        """One more failure of ``image`` to ``target``; the only way the
        ``reason`` label is set, so it never holds anything but a Reason."""
        self.failures.labels(image=image, target=target, reason=Reason(reason).value).inc()

    def set_schedules(self, last_good: dict[str, float]) -> None:
        """The configured schedules and when each last had a good cycle;
        series of schedules no longer configured are dropped."""
        for metric in (self.last_good_cycle, self.cycle_timeouts):
            for sample_metric in metric.collect():
                for sample in sample_metric.samples:
                    schedule = sample.labels.get("schedule")
                    if schedule is not None and schedule not in last_good:
                        with contextlib.suppress(KeyError):
                            metric.remove(schedule)
        for schedule, when in last_good.items():
            self.last_good_cycle.labels(schedule=schedule).set(when)
            self.cycle_timeouts.labels(schedule=schedule)

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

    def forget_items(self, keep: Iterable[tuple[str, str, str]]) -> None:
        """Drop series of items no longer in the desired state."""
        self.items.keep_only(keep)
