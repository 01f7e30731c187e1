"""Pruning in ``hangard run``, watched from outside (a real subprocess against
real registries): a refused prune is a failure with reason
``prune_refused`` in the metrics and ``/status``, deletions are counted, and
``--no-prune`` deletes nothing."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.harness import images
from tests.harness.daemon import HangardDaemon, daemons, wait_until
from tests.harness.registry import Registry
from tests.test_daemon import CYCLE_TIMEOUT, Make, write_config

REPO = "lib/app"
PRUNE = {"image": "(prune)", "target": "mirror"}


@pytest.fixture
def make_daemon(tmp_path: Path) -> Iterator[Make]:
    with daemons(tmp_path) as make:
        yield make


def config(path: Path, src: Registry, dst: Registry, include: str, **target: Any) -> Path:
    doc = {
        "version": 1,
        "defaults": {"targets": ["mirror"], "schedule": "1h"},
        "registries": {src.host: {"http": True}, dst.host: {"http": True}},
        "targets": {"mirror": {"registry": dst.host, "prefix": "mirror", **target}},
        "images": [{"source": f"{src.host}/{REPO}", "tags": {"include": [include]}}],
    }
    return write_config(path, yaml.safe_dump(doc, sort_keys=False))


def cycles(daemon: HangardDaemon) -> int:
    return len(daemon.events("cycle finished"))


def reload(daemon: HangardDaemon) -> None:
    """SIGHUP (the config changed), then wait for the cycle it runs."""
    before = cycles(daemon)
    daemon.send(signal.SIGHUP)
    wait_until(lambda: cycles(daemon) > before, CYCLE_TIMEOUT, message="a cycle after SIGHUP")


def mirror_tags(dst: Registry) -> list[str]:
    return sorted(images.list_tags(dst, f"mirror/{REPO}"))


def start(daemon: HangardDaemon) -> HangardDaemon:
    daemon.start()
    wait_until(lambda: cycles(daemon) >= 1, CYCLE_TIMEOUT, message="the first cycle")
    return daemon


def test_a_refused_prune_is_counted_and_alertable_then_a_raised_cap_prunes(
    tmp_path: Path, plain_registry: Registry, plain_registry2: Registry, make_daemon: Make
) -> None:
    src, dst = plain_registry, plain_registry2
    for seed, tag in enumerate(("1.0", "1.1", "1.2")):
        images.push_oci_image(src, REPO, tag, seed=seed + 1)
    path = config(tmp_path / "h.yaml", src, dst, r"1\..*", prune=True, prune_max=1)
    daemon = start(make_daemon(path, watch=False))
    assert mirror_tags(dst) == ["1.0", "1.1", "1.2"]

    config(path, src, dst, r"1\.2", prune=True, prune_max=1)  # 2 deletions > 1
    reload(daemon)
    metrics = daemon.metrics()
    assert metrics.total("hangard_copy_failures_total", reason="prune_refused", **PRUNE) == 1
    assert (metrics.value("hangard_sync_cycles_total", result="failure") or 0) >= 1
    (item,) = [i for i in daemon.status()["items"] if i["image"] == "(prune)"]
    assert item["last_error_reason"] == "prune_refused" and item["target"] == "mirror"
    assert "2 tags would be deleted" in item["last_error"]
    assert mirror_tags(dst) == ["1.0", "1.1", "1.2"]

    config(path, src, dst, r"1\.2", prune=True, prune_max=2)
    reload(daemon)
    assert mirror_tags(dst) == ["1.2"]
    metrics = daemon.metrics()
    assert metrics.value("hangard_prune_deletions_total", target="mirror", result="deleted") == 2
    assert not [i for i in daemon.status()["items"] if i["image"] == "(prune)"]


def test_run_no_prune_deletes_nothing(
    tmp_path: Path, plain_registry: Registry, plain_registry2: Registry, make_daemon: Make
) -> None:
    src, dst = plain_registry, plain_registry2
    for seed, tag in enumerate(("1.0", "1.1")):
        images.push_oci_image(src, REPO, tag, seed=seed + 5)
    path = config(tmp_path / "h.yaml", src, dst, r"1\..*", prune=True)
    daemon = start(make_daemon(path, watch=False, args=["--no-prune"]))
    config(path, src, dst, r"1\.1", prune=True)
    reload(daemon)
    assert mirror_tags(dst) == ["1.0", "1.1"]
    assert not daemon.events("tag pruned")
    assert (daemon.state_dir / "ownership.db").exists()  # still recorded
