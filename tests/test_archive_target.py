"""An archive as a desired-state target (``targets: {airgap: {archive:
PATH}}``) and a desired-state file as ``save``'s source: ``plan`` shows the
archive's actions, ``sync --once`` and the daemon keep the archive current
(missing = not in the archive), with the metrics of any target."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import FaultProxyFactory
from tests.harness import images
from tests.harness.daemon import HangardDaemon, daemons, wait_until
from tests.harness.faults import FaultProxy
from tests.harness.harbor import FakeHarbor
from tests.harness.registry import Registry
from tests.helpers_cli import Hangard

pytestmark = pytest.mark.usefixtures("tmp_authfile")

Make = Callable[..., HangardDaemon]


def config(
    path: Path,
    source: Registry | FaultProxy | FakeHarbor,
    archive: Path,
    entries: list[dict[str, Any]],
) -> Path:
    doc = {
        "version": 1,
        "defaults": {"targets": ["airgap"], "schedule": "1h"},
        "registries": {source.host: {"http": True}},
        "targets": {"airgap": {"archive": str(archive)}},
        "images": entries,
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def archived(hangard: Hangard, archive: Path) -> dict[str, str]:
    run = hangard("archive", "ls", str(archive), "-o", "json")
    assert run.code == 0, run.err
    return {f"{r['source']}:{r['tag']}": r["digest"] for r in json.loads(run.out)["images"]}


def test_sync_once_keeps_an_archive_target_current(
    hangard: Hangard, plain_registry: Registry, tmp_path: Path
) -> None:
    src = plain_registry
    one = images.push_oci_index(src, "team/app", "1.0", seed=61)
    archive = tmp_path / "out" / "mirror.zip"
    archive.parent.mkdir()
    rules = {"source": f"{src.host}/team/app", "tags": {"semver": ">=1.0"}}
    path = config(tmp_path / "hangard.yaml", src, archive, [rules])

    planned = hangard("plan", str(path))
    assert planned.code == 0, planned.err
    where = f"hangar-archive:{archive}:{src.host}/team/app:1.0"
    assert f"{src.host}/team/app:1.0  ->  {where}  [airgap]  copy (missing)" in planned.out

    synced = hangard("sync", "--once", str(path), "--no-progress")
    assert synced.code == 0, synced.err
    assert "1 copied" in synced.out
    assert archived(hangard, archive) == {f"{src.host}/team/app:1.0": one.digest}
    assert "in-sync" in hangard("plan", str(path)).out

    two = images.push_oci_image(src, "team/app", "1.1", seed=62)
    again = hangard("sync", "--once", str(path), "--no-progress")
    assert again.code == 0 and "1 copied, 1 in sync" in again.out, again.out + again.err
    assert archived(hangard, archive) == {
        f"{src.host}/team/app:1.0": one.digest,
        f"{src.host}/team/app:1.1": two.digest,
    }
    assert hangard("archive", "verify", str(archive)).code == 0


def test_save_from_a_desired_state_file_uses_its_tag_rules_and_platforms(
    hangard: Hangard, plain_registry: Registry, tmp_path: Path
) -> None:
    src = plain_registry
    index = images.push_oci_index(src, "team/app", "2.0", seed=63)
    images.push_oci_image(src, "team/app", "1.9", seed=64)
    images.push_oci_image(src, "team/db", "7", seed=65)
    wanted = index.children[0].platform
    assert wanted is not None
    platform = f"{wanted['os']}/{wanted['architecture']}"
    entries: list[dict[str, Any]] = [
        {"source": f"{src.host}/team/app", "tags": {"semver": ">=2"}, "platforms": [platform]},
        {"source": f"{src.host}/team/db", "tags": ["7"]},
    ]
    path = config(tmp_path / "hangard.yaml", src, tmp_path / "unused.zip", entries)
    archive = tmp_path / "saved.zip"

    saved = hangard("save", "--config", str(path), "-o", str(archive), "--no-progress")
    assert saved.code == 0, saved.err
    held = json.loads(hangard("archive", "ls", str(archive), "-o", "json").out)["images"]
    assert sorted(f"{r['source']}:{r['tag']}" for r in held) == [
        f"{src.host}/team/app:2.0",
        f"{src.host}/team/db:7",
    ]
    app = next(r for r in held if r["tag"] == "2.0")
    assert app["platforms"] == [platform]


@pytest.fixture
def make_daemon(tmp_path: Path) -> Iterator[Make]:
    with daemons(tmp_path) as make:
        yield make


def test_the_daemon_keeps_an_archive_target_current(
    hangard: Hangard, plain_registry: Registry, make_daemon: Make, tmp_path: Path
) -> None:
    src = plain_registry
    image = images.push_oci_image(src, "team/app", "1", seed=66)
    archive = tmp_path / "mirror.zip"
    entry = {"source": f"{src.host}/team/app", "tags": ["1"]}
    path = config(tmp_path / "hangard.yaml", src, archive, [entry])
    daemon = make_daemon(path, watch=False).start()

    wait_until(daemon.ready, 30, message="first cycle")
    labels = {"image": f"{src.host}/team/app", "tag": "1", "target": "airgap"}
    metrics = daemon.metrics()
    assert metrics.value("hangard_image_in_sync", **labels) == 1
    assert metrics.value("hangard_image_missing", **labels) == 0
    assert archive.exists()
    assert daemon.stop() == 0
    assert archived(hangard, archive) == {f"{src.host}/team/app:1": image.digest}


def test_a_failed_archive_commit_fails_the_daemons_items_everywhere(
    plain_registry: Registry, fault_proxy: FaultProxyFactory, make_daemon: Make, tmp_path: Path
) -> None:
    """The archive is committed once, at the end of the cycle; when that
    fails (here a directory took its final name while the cycle copied, so
    the partial cannot be renamed), each item copied into it is reported
    once, as failed with a reason: in the failure counter, ``/status`` and
    the ``item failed`` event, never as copied first."""
    src = fault_proxy(plain_registry)
    images.push_oci_image(plain_registry, "one/app", "1", seed=67)
    held = images.push_oci_image(plain_registry, "two/app", "1", seed=68)
    src.hold(rf"/two/app/blobs/{held.layers[0].digest}$", until_in_flight=99, timeout=60)
    archive = tmp_path / "mirror.zip"
    entries = [{"source": f"{src.host}/{r}", "tags": ["1"]} for r in ("one/app", "two/app")]
    path = config(tmp_path / "hangard.yaml", src, archive, entries)
    daemon = make_daemon(path, watch=False).start()
    partial = archive.with_name("mirror.zip.partial")
    wait_until(lambda: partial.is_file() and src.in_flight >= 1, 30, message="copy under way")
    archive.mkdir()
    (archive / "in-the-way").write_text("x")
    src.release_hold()

    wait_until(daemon.ready, 30, message="first cycle")
    metrics = daemon.metrics()
    (summary,) = daemon.events("cycle finished")
    assert (summary["copied"], summary["failed"]) == (0, 2)
    events = daemon.events("item failed")
    for repo in ("one/app", "two/app"):
        labels = {"image": f"{src.host}/{repo}", "tag": "1", "target": "airgap"}
        assert metrics.value("hangard_image_in_sync", **labels) == 0
        counted = {"image": labels["image"], "target": "airgap"}  # no tag label
        assert metrics.total("hangard_copy_failures_total", reason="other", **counted) == 1
        assert metrics.total("hangard_copy_failures_total", **counted) == 1
        (status,) = [i for i in daemon.status()["items"] if i["image"] == labels["image"]]
        assert status["last_error_reason"] == "other"
        assert "archive" in status["last_error"], status
        (event,) = [e for e in events if e["image"] == labels["image"]]
        assert event["reason"] == "other" and event["target"] == "airgap"
    assert daemon.stop() == 0
    assert partial.is_file() and not archive.is_file()


def test_the_failed_list_names_archive_targets_and_retries_into_them(
    hangard: Hangard, plain_registry: Registry, tmp_path: Path
) -> None:
    """An item that fails into an archive target is on the failed list
    under ``# target: NAME (hangar-archive:FILE)``, with the source's path
    as DEST (an archive keeps the source's name); read back as a ``list:``
    entry with that target, the list retries exactly it."""
    src = plain_registry
    kept = images.push_oci_image(src, "team/app", "1", seed=71)
    archive = tmp_path / "mirror.zip"
    entries = [{"source": f"{src.host}/team/app", "tags": ["1", "2"]}]
    path = config(tmp_path / "hangard.yaml", src, archive, entries)

    run = hangard("sync", "--once", str(path), "--no-progress")

    assert run.code == 1, run.err
    listed = hangard.state_dir / "hangard-failed.txt"
    assert listed.read_text() == (
        "# hangard: items that failed in the last sync; format SOURCE DEST TAG\n"
        f"# target: airgap (hangar-archive:{archive})\n"
        f"{src.host}/team/app team/app 2\n"
    )
    assert archived(hangard, archive) == {f"{src.host}/team/app:1": kept.digest}

    late = images.push_oci_image(src, "team/app", "2", seed=72)
    retry_list = tmp_path / "retry.txt"
    retry_list.write_text(listed.read_text())
    retry = config(tmp_path / "retry.yaml", src, archive, [{"list": retry_list.name}])
    again = hangard("sync", "--once", str(retry), "--no-progress")

    assert again.code == 0, again.err
    assert "1 copied" in again.out, again.out
    assert archived(hangard, archive) == {
        f"{src.host}/team/app:1": kept.digest,
        f"{src.host}/team/app:2": late.digest,
    }
    assert not listed.exists()
