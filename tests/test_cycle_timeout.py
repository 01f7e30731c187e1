"""A cycle cut short by ``HANGARD_CYCLE_TIMEOUT`` (issue 9, item 8): each
copy still running is a failure with reason ``timeout`` (the counter,
``/status``, one ``item failed`` event, the failed list), not dropped, while
what finished before the deadline is recorded as usual.

The source is a real registry behind the deliberate fake
:class:`~tests.harness.faults.FaultProxy`, which stalls the blob GETs of one
image far past the cycle's deadline (the source's own ``timeout`` is longer
still, so only the cycle's deadline can end the copy).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import FaultProxyFactory
from tests.harness import images
from tests.harness.daemon import daemons, wait_until
from tests.harness.registry import Registry
from tests.test_daemon import (
    Make,
    desired_state,
    entry,
    failures,
    in_sync,
    item,
    status_item,
    write_config,
)

#: The cycle's deadline: room for planning and the quick image, under load.
CYCLE_TIMEOUT = 8
#: How long the proxy holds the slow image's blob GETs: far past the deadline.
STALL = 120.0


@pytest.fixture
def make_daemon(tmp_path: Path) -> Iterator[Make]:
    with daemons(tmp_path) as make:
        yield make


def test_copies_running_when_the_cycle_times_out_fail_with_reason_timeout(
    plain_registry: Registry,
    plain_registry2: Registry,
    fault_proxy: FaultProxyFactory,
    make_daemon: Make,
    tmp_path: Path,
) -> None:
    source = fault_proxy(plain_registry)
    images.push_oci_image(plain_registry, "slow/app", "1", seed=81)
    images.push_oci_image(plain_registry, "quick/app", "1", seed=82)
    source.stall(r"^/v2/slow/app/blobs/", STALL, method="GET")
    doc = desired_state(
        plain_registry2,
        [entry(source, "slow/app", "1"), entry(source, "quick/app", "1")],
        sources={source: None},
    )
    doc["registries"][source.host] = {"http": True, "timeout": 3 * STALL, "retry_times": 0}
    config = write_config(tmp_path / "hangard.yaml", doc)
    daemon = make_daemon(config, env={"HANGARD_CYCLE_TIMEOUT": str(CYCLE_TIMEOUT)}).start()

    slow, quick = item(source, "slow/app", "1"), item(source, "quick/app", "1")
    wait_until(
        lambda: daemon.metrics().total("hangard_sync_cycle_timeouts_total") >= 1,
        60,
        message="the cycle timed out",
    )
    assert source.count("GET", r"^/v2/slow/app/blobs/") >= 1, "the slow copy never started"
    metrics = daemon.metrics()
    assert failures(metrics, slow, reason="timeout") == 1
    assert metrics.total("hangard_copy_failures_total") == 1
    assert metrics.total("hangard_sync_cycles_total", result="failure") == 1

    entry_status = status_item(daemon, slow)
    assert entry_status["last_error_reason"] == "timeout"
    assert "deadline" in entry_status["last_error"]

    events = [e for e in daemon.events("item failed") if e["image"] == slow["image"]]
    assert [(e["reason"], e["stage"]) for e in events] == [("timeout", "copy")]
    assert "HANGARD_CYCLE_TIMEOUT" in events[0]["hint"]
    assert len(daemon.events("cycle timed out")) == 1

    listed = (daemon.state_dir / "hangard-failed.txt").read_text().splitlines()
    slow_lines = [line for line in listed if "slow/app" in line]
    assert len(slow_lines) == 1
    assert slow_lines[0].startswith(f"{source.host}/slow/app mirror/slow/app 1")
    assert not any("quick/app" in line for line in listed)

    # what finished before the deadline is recorded as usual
    assert in_sync(daemon, quick) == 1
    assert status_item(daemon, quick)["last_error_reason"] is None
