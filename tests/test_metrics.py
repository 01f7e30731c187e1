"""hangard.daemon.metrics: the series hangard exposes, read back through the
Prometheus text parser the way a scraper sees them."""

from __future__ import annotations

import os
import platform
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from hangard import __version__, buildinfo
from hangard.daemon.itemseries import ItemSeries, ItemState
from hangard.daemon.metrics import Metrics
from hangard.errors import Reason

NGINX = ("docker.io/library/nginx", "1.27", "mirror")
REDIS = ("docker.io/library/redis", "7", "mirror")

ITEM_GAUGES = (
    "hangard_image_in_sync",
    "hangard_image_drift",
    "hangard_image_missing",
    "hangard_image_last_success_timestamp_seconds",
    "hangard_copy_consecutive_failures",
)

Labels = frozenset[tuple[str, str]]


def scrape(metrics: Metrics) -> dict[str, dict[Labels, float]]:
    """sample name -> labels -> value, as a scraper would read the page."""
    out: dict[str, dict[Labels, float]] = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            out.setdefault(sample.name, {})[frozenset(sample.labels.items())] = sample.value
    return out


def item(key: tuple[str, str, str]) -> Labels:
    return frozenset(zip(("image", "tag", "target"), key, strict=True))


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


def test_fresh_registry_has_build_info_and_zeroed_counters(metrics: Metrics) -> None:
    page = scrape(metrics)
    ((labels, value),) = page["hangard_build_info"].items()
    assert value == 1.0
    assert dict(labels) == {
        "version": __version__,
        "revision": buildinfo.git_revision() or "unknown",
        "python_version": platform.python_version(),
    }
    assert page["hangard_blobs_total"] == {
        frozenset({("result", r)}): 0.0 for r in ("copied", "mounted", "present")
    }
    assert page["hangard_sync_cycles_total"] == {
        frozenset({("result", r)}): 0.0 for r in ("success", "failure")
    }
    # no items yet, and *_created series are switched off
    assert not any(name in page for name in ITEM_GAUGES)
    assert not any(name.endswith("_created") for name in page)


def test_each_instance_has_its_own_registry() -> None:
    a, b = Metrics(), Metrics()
    a.cycles.labels(result="success").inc()
    assert scrape(a)["hangard_sync_cycles_total"][frozenset({("result", "success")})] == 1.0
    assert scrape(b)["hangard_sync_cycles_total"][frozenset({("result", "success")})] == 0.0


@pytest.mark.parametrize(
    ("in_sync", "drift", "missing", "last_success", "failures"),
    [
        (True, False, False, 1700000000.0, 0),
        (False, True, False, 1700000000.5, 2),
        (False, False, True, None, 7),
    ],
)
def test_item_state_gauges(
    metrics: Metrics,
    in_sync: bool,
    drift: bool,
    missing: bool,
    last_success: float | None,
    failures: int,
) -> None:
    metrics.set_item_state(
        NGINX,
        in_sync=in_sync,
        drift=drift,
        missing=missing,
        last_success=last_success,
        consecutive_failures=failures,
    )
    page = scrape(metrics)
    assert page["hangard_image_in_sync"] == {item(NGINX): float(in_sync)}
    assert page["hangard_image_drift"] == {item(NGINX): float(drift)}
    assert page["hangard_image_missing"] == {item(NGINX): float(missing)}
    assert page["hangard_copy_consecutive_failures"] == {item(NGINX): float(failures)}
    if last_success is None:
        assert "hangard_image_last_success_timestamp_seconds" not in page
    else:
        assert page["hangard_image_last_success_timestamp_seconds"] == {item(NGINX): last_success}


def test_last_success_is_kept_when_a_later_state_has_none(metrics: Metrics) -> None:
    common = {"drift": False, "missing": False}
    metrics.set_item_state(
        NGINX, in_sync=True, last_success=100.0, consecutive_failures=0, **common
    )
    metrics.set_item_state(
        NGINX, in_sync=False, last_success=None, consecutive_failures=1, **common
    )
    page = scrape(metrics)
    assert page["hangard_image_last_success_timestamp_seconds"] == {item(NGINX): 100.0}
    assert page["hangard_image_in_sync"] == {item(NGINX): 0.0}
    assert page["hangard_copy_consecutive_failures"] == {item(NGINX): 1.0}


def test_forget_items_drops_every_series_of_items_not_kept(metrics: Metrics) -> None:
    for key in (NGINX, REDIS):
        metrics.set_item_state(
            key, in_sync=True, drift=False, missing=False, last_success=1.0, consecutive_failures=0
        )
    metrics.forget_items([REDIS])
    page = scrape(metrics)
    for name in ITEM_GAUGES:
        assert page[name].keys() == {item(REDIS)}, name
    metrics.forget_items([])
    page = scrape(metrics)
    assert not any(name in page for name in ITEM_GAUGES)


def test_forget_items_with_unknown_keys_is_harmless(metrics: Metrics) -> None:
    metrics.set_item_state(
        NGINX, in_sync=True, drift=False, missing=False, last_success=None, consecutive_failures=0
    )
    metrics.forget_items([NGINX, REDIS])
    page = scrape(metrics)
    assert page["hangard_image_in_sync"] == {item(NGINX): 1.0}
    assert "hangard_image_last_success_timestamp_seconds" not in page


@pytest.mark.parametrize("reason", list(Reason))
def test_failure_counter_labels(metrics: Metrics, reason: Reason) -> None:
    metrics.count_failure(NGINX[0], NGINX[2], reason)
    metrics.count_failure(NGINX[0], NGINX[2], reason)
    metrics.count_failure(REDIS[0], REDIS[2], reason)
    page = scrape(metrics)
    assert page["hangard_copy_failures_total"] == {
        frozenset({("image", NGINX[0]), ("target", NGINX[2]), ("reason", reason)}): 2.0,
        frozenset({("image", REDIS[0]), ("target", REDIS[2]), ("reason", reason)}): 1.0,
    }


def test_failure_reasons_are_unique_and_bounded() -> None:
    values = [r.value for r in Reason]
    assert len(set(values)) == len(values)
    assert "other" in values
    assert all(r.isidentifier() and r == r.lower() for r in values)


def test_other_series_render(metrics: Metrics) -> None:
    metrics.bytes_copied.labels(target_registry="mirror.example.com").inc(1234)
    metrics.requests.labels(registry="docker.io", method="GET", code="200").inc()
    metrics.ratelimit_remaining.labels(registry="docker.io").set(99)
    metrics.reload_ok.set(1)
    metrics.desired.set(3)
    metrics.cycle_duration.observe(0.7)
    metrics.cycle_duration.observe(45)
    page = scrape(metrics)
    assert page["hangard_bytes_copied_total"] == {
        frozenset({("target_registry", "mirror.example.com")}): 1234.0
    }
    assert page["hangard_registry_requests_total"] == {
        frozenset({("registry", "docker.io"), ("method", "GET"), ("code", "200")}): 1.0
    }
    assert page["hangard_registry_ratelimit_remaining"] == {
        frozenset({("registry", "docker.io")}): 99.0
    }
    assert page["hangard_config_last_reload_successful"] == {frozenset(): 1.0}
    assert page["hangard_desired_images"] == {frozenset(): 3.0}
    assert page["hangard_sync_cycle_duration_seconds_count"] == {frozenset(): 2.0}
    assert page["hangard_sync_cycle_duration_seconds_sum"] == {frozenset(): 45.7}
    buckets = page["hangard_sync_cycle_duration_seconds_bucket"]
    assert buckets[frozenset({("le", "0.5")})] == 0.0
    assert buckets[frozenset({("le", "1.0")})] == 1.0
    assert buckets[frozenset({("le", "30.0")})] == 1.0
    assert buckets[frozenset({("le", "60.0")})] == 2.0
    assert buckets[frozenset({("le", "+Inf")})] == 2.0


def test_label_values_are_escaped_in_the_text_format(metrics: Metrics) -> None:
    odd = ('reg.example.com/a"b', "t\\1", "line\nbreak")
    metrics.set_item_state(
        odd, in_sync=True, drift=False, missing=False, last_success=None, consecutive_failures=0
    )
    assert scrape(metrics)["hangard_image_in_sync"] == {item(odd): 1.0}


def test_forget_items_drops_their_attachment_counts(metrics: Metrics) -> None:
    for key in (NGINX, REDIS):
        metrics.set_attachments_missing(key, 2)
    metrics.forget_items([REDIS])
    assert scrape(metrics)["hangard_attachments_missing"] == {item(REDIS): 2.0}


def test_process_and_platform_collectors_are_on_the_registry(metrics: Metrics) -> None:
    """What node_exporter users look for: when the process started, its
    memory and open files, and the Python running it."""
    page = scrape(metrics)
    (start,) = page["process_start_time_seconds"].values()
    assert time.time() - 6 * 3600 < start <= time.time()  # this test's process
    (rss,) = page["process_resident_memory_bytes"].values()
    assert rss > 1024 * 1024
    (fds,) = page["process_open_fds"].values()
    assert 3 <= fds <= len(os.listdir("/proc/self/fd")) + 2
    assert page["process_max_fds"]
    ((labels, _),) = page["python_info"].items()
    assert dict(labels)["version"] == platform.python_version()


def test_request_duration_is_a_histogram_per_registry_and_method(metrics: Metrics) -> None:
    metrics.count_response("ghcr.io", "GET", 200, 0.03)
    metrics.count_response("ghcr.io", "GET", 404, 0.2)
    metrics.count_response("ghcr.io", "HEAD", 200, 12.0)
    page = scrape(metrics)
    assert page["hangard_registry_requests_total"] == {
        frozenset({("registry", "ghcr.io"), ("method", "GET"), ("code", "200")}): 1.0,
        frozenset({("registry", "ghcr.io"), ("method", "GET"), ("code", "404")}): 1.0,
        frozenset({("registry", "ghcr.io"), ("method", "HEAD"), ("code", "200")}): 1.0,
    }
    get = frozenset({("registry", "ghcr.io"), ("method", "GET")})
    head = frozenset({("registry", "ghcr.io"), ("method", "HEAD")})
    # the status code is no label of the histogram: registries x methods series
    assert page["hangard_registry_request_duration_seconds_count"] == {get: 2.0, head: 1.0}
    assert page["hangard_registry_request_duration_seconds_sum"][get] == pytest.approx(0.23)
    buckets = page["hangard_registry_request_duration_seconds_bucket"]
    assert buckets[get | {("le", "0.05")}] == 1.0
    assert buckets[get | {("le", "0.25")}] == 2.0
    assert buckets[head | {("le", "10.0")}] == 0.0
    assert buckets[head | {("le", "30.0")}] == 1.0


def test_schedule_cycles_count_per_schedule_and_forget_dropped_schedules(
    metrics: Metrics,
) -> None:
    metrics.set_schedules({"15m": 1.0, "1h": 2.0})
    metrics.schedule_cycles.labels(schedule="15m", result="failure").inc()
    page = scrape(metrics)
    assert page["hangard_schedule_cycles_total"] == {
        frozenset({("schedule", s), ("result", r)}): float((s, r) == ("15m", "failure"))
        for s in ("15m", "1h")
        for r in ("success", "failure")
    }
    metrics.set_schedules({"1h": 2.0})
    page = scrape(metrics)
    assert {dict(k)["schedule"] for k in page["hangard_schedule_cycles_total"]} == {"1h"}
    assert page["hangard_last_successful_cycle_timestamp_seconds"] == {
        frozenset({("schedule", "1h")}): 2.0
    }


Step = tuple[str, tuple[str, str, str], ItemState | int | None]


def _apply(series: ItemSeries, step: Step) -> None:
    _action, key, value = step
    if isinstance(value, ItemState):
        series.set(key, value)
    elif isinstance(value, int):
        series.set_attachments_missing(key, value)
    else:
        series.keep_only(k for k in list(series.keys()) if k != key)


def test_each_scrape_shows_the_latest_item_values_though_families_are_kept() -> None:
    """A family's text is kept between scrapes until one of its values
    changes: every scrape must still equal a fresh rendering of the state."""
    steps: list[Step] = [
        ("set", NGINX, ItemState(True, False, False, 10.0, 0)),
        ("set", REDIS, ItemState(False, False, True, None, 1)),
        ("set", NGINX, ItemState(True, False, False, 20.0, 0)),  # only a timestamp moves
        ("attachments", NGINX, 2),
        ("set", REDIS, ItemState(False, True, False, None, 2)),
        ("attachments", NGINX, 0),
        ("forget", REDIS, None),
        ("set", REDIS, ItemState(True, False, False, 30.0, 0)),
    ]
    kept = ItemSeries()
    for n, step in enumerate(steps, 1):
        _apply(kept, step)
        fresh = ItemSeries()
        for earlier in steps[:n]:
            _apply(fresh, earlier)
        assert kept.render() == fresh.render(), step
    assert 'hangard_image_last_success_timestamp_seconds{image="' in kept.render()
