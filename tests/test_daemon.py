"""``hangard run`` end to end: a real subprocess against real registries.

Each test starts the daemon with :class:`tests.harness.daemon.HangardDaemon`
and watches it only from outside: ``/metrics``, ``/status``, ``/readyz``, its
JSON logs, its exit code, ``NOTIFY_SOCKET`` and the registries' contents.
Cycles are triggered by the start or a reload (SIGHUP or a file change);
one test waits for the 10 s schedule itself. Schedules are otherwise ``1h``
so that no cycle runs unasked. Every wait polls with a deadline.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import FaultProxyFactory, RegistryFactory
from tests.harness import images
from tests.harness.daemon import (
    HangardDaemon,
    MetricsSnapshot,
    NotifySocket,
    daemons,
    wait_until,
)
from tests.harness.faults import FaultProxy
from tests.harness.registry import Registry
from tests.helpers_copy import Host

Make = Callable[..., HangardDaemon]

TARGET = "mirror"
CYCLE_TIMEOUT = 20.0


# ------------------------------------------------------------------ helpers
@pytest.fixture
def make_daemon(tmp_path: Path) -> Iterator[Make]:
    """``make(config, **kw) -> HangardDaemon`` (not started); all killed at teardown."""
    with daemons(tmp_path) as make:
        yield make


def desired_state(
    target: Registry,
    images_: list[dict[str, Any]],
    *,
    sources: dict[Host, dict[str, Any] | None],
    schedule: str = "1h",
) -> dict[str, Any]:
    """A desired state mirroring ``images_`` to ``target`` under ``mirror/``;
    every registry is plain HTTP, ``sources`` maps each to its credentials."""
    registries: dict[str, Any] = {target.host: {"http": True}}
    for registry, credentials in sources.items():
        registries[registry.host] = {"http": True}
        if credentials is not None:
            registries[registry.host]["credentials"] = credentials
    return {
        "version": 1,
        "defaults": {"targets": [TARGET], "schedule": schedule},
        "registries": registries,
        "targets": {TARGET: {"registry": target.host, "prefix": "mirror"}},
        "images": images_,
    }


def write_config(path: Path, doc: dict[str, Any] | str, *, comment: str = "") -> Path:
    """Write the config atomically (as editors do: a new file renamed over)."""
    text = doc if isinstance(doc, str) else yaml.safe_dump(doc, sort_keys=False)
    if comment:
        text += f"# {comment}\n"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def one_image_config(tmp_path: Path, source: Host, target: Registry, repo: str, tag: str) -> Path:
    """``tmp_path/hangard.yaml`` mirroring ``source/repo:tag`` (anonymously) to ``target``."""
    return write_config(
        tmp_path / "hangard.yaml",
        desired_state(target, [entry(source, repo, tag)], sources={source: None}),
    )


def touch_config(path: Path) -> None:
    """A harmless change (a comment), so a reload sees a new config and cycles."""
    write_config(path, path.read_text(), comment=f"touched {time.monotonic_ns()}")


def entry(source: Host, repo: str, *tags: str) -> dict[str, Any]:
    return {"source": f"{source.host}/{repo}", "tags": list(tags)}


def item(source: Host, repo: str, tag: str) -> dict[str, str]:
    """The metric labels of one (image, tag, target)."""
    return {"image": f"{source.host}/{repo}", "tag": tag, "target": TARGET}


def key(labels: dict[str, str]) -> tuple[str, str, str]:
    return (labels["image"], labels["tag"], labels["target"])


def failures(metrics: MetricsSnapshot, labels: dict[str, str], **reason: str) -> float:
    """``hangard_copy_failures_total`` of one item (the counter has no tag label)."""
    return metrics.total(
        "hangard_copy_failures_total", image=labels["image"], target=labels["target"], **reason
    )


def in_sync(daemon: HangardDaemon, labels: dict[str, str]) -> float | None:
    return daemon.metrics().value("hangard_image_in_sync", **labels)


def status_item(daemon: HangardDaemon, labels: dict[str, str]) -> dict[str, Any]:
    for found in daemon.status()["items"]:
        if all(found[k] == v for k, v in labels.items()):
            return dict(found)
    raise AssertionError(f"{labels} not in /status")


def target_digest(target: Registry, repo: str, tag: str) -> str | None:
    if not images.manifest_exists(target, f"mirror/{repo}", tag):
        return None
    return images.sha256_digest(images.get_manifest_raw(target, f"mirror/{repo}", tag))


# -------------------------------------------------------------------- tests
def test_metrics_count_requests_blobs_bytes_and_the_rate_limit(
    plain_registry: Registry,
    plain_registry2: Registry,
    fault_proxy: FaultProxyFactory,
    make_daemon: Make,
    tmp_path: Path,
) -> None:
    """Deliberate fake: the source is reached through the fault proxy, which
    adds Docker Hub's rate-limit headers to manifest answers."""
    target = plain_registry2
    image = images.push_oci_image(plain_registry, "app/web", "1", seed=90, layer_count=2)
    source = fault_proxy(plain_registry)
    source.add_header(r"/manifests/", "ratelimit-limit", "100;w=21600")
    source.add_header(r"/manifests/", "ratelimit-remaining", "42;w=21600")
    config = one_image_config(tmp_path, source, target, "app/web", "1")
    daemon = make_daemon(config, watch=False).start()
    wait_until(daemon.ready, CYCLE_TIMEOUT, message="first cycle")
    m = daemon.metrics()

    assert m.value("hangard_image_in_sync", **item(source, "app/web", "1")) == 1
    # every request, per registry, method and status: as the target logged
    # hangard's requests, and as many as the proxy saw for the source
    requests = "hangard_registry_requests_total"
    sent = Counter(
        {(lbl["method"], lbl["code"]): v for lbl, v in m.series(requests, registry=target.host)}
    )
    logged = [e for e in target.access_log() if e.user_agent.startswith("hangard/")]
    assert sent == Counter((e.method, str(e.status)) for e in logged)
    assert sent[("PUT", "201")] >= 1
    assert m.total(requests, registry=source.host) == len(source.requests())
    assert (m.value(requests, registry=source.host, method="GET", code="200") or 0) >= 1
    assert m.value("hangard_blobs_total", result="copied") == len(image.blobs)
    assert m.value("hangard_blobs_total", result="mounted") == 0
    assert m.value("hangard_bytes_copied_total", target_registry=target.host) == sum(
        b.size for b in image.blobs
    )
    assert m.value("hangard_registry_ratelimit_remaining", registry=source.host) == 42
    assert m.series("hangard_registry_ratelimit_remaining", registry=target.host) == []


def test_first_cycle_syncs_everything_and_never_shows_the_password(
    registry_factory: RegistryFactory, plain_registry2: Registry, make_daemon: Make, tmp_path: Path
) -> None:
    password = f"pw-{secrets.token_hex(12)}"
    source = registry_factory("basic", username="mirrorbot", password=password)
    target = plain_registry2
    index = images.push_oci_index(source, "team/multi", "v1", seed=1)
    single = images.push_oci_image(source, "team/single", "1.0", seed=2)
    credentials = {"username": "mirrorbot", "password_env": "MIRROR_SOURCE_PASSWORD"}
    config = write_config(
        tmp_path / "hangard.yaml",
        desired_state(
            target,
            [entry(source, "team/multi", "v1"), entry(source, "team/single", "1.0")],
            sources={source: credentials},
        ),
    )
    daemon = make_daemon(config, env={"MIRROR_SOURCE_PASSWORD": password}).start()

    wait_until(daemon.ready, CYCLE_TIMEOUT, message="/readyz after the first cycle")
    metrics = daemon.metrics()
    expected = {
        ("team/multi", "v1"): index.digest,
        ("team/single", "1.0"): single.digest,
    }
    for (repo, tag), digest in expected.items():
        labels = item(source, repo, tag)
        assert metrics.value("hangard_image_in_sync", **labels) == 1
        assert metrics.value("hangard_image_drift", **labels) == 0
        assert metrics.value("hangard_image_missing", **labels) == 0
        assert metrics.value("hangard_copy_consecutive_failures", **labels) == 0
        assert target_digest(target, repo, tag) == digest
    assert len(metrics.series("hangard_image_in_sync")) == 2
    assert metrics.value("hangard_desired_images") == 2
    assert [lbl["version"] for lbl, _ in metrics.series("hangard_build_info")]
    assert metrics.total("hangard_sync_cycles_total", result="success") >= 1
    assert metrics.value("hangard_sync_cycles_total", result="failure") == 0
    assert metrics.value("hangard_config_last_reload_successful") == 1
    assert metrics.total("hangard_copy_failures_total") == 0

    status = daemon.status()
    assert status["ready"] is True
    assert status["config_generation"] == 1
    assert status["last_reload_successful"] is True
    listed = {(i["image"], i["tag"], i["target"]): i for i in status["items"]}
    assert set(listed) == {key(item(source, r, t)) for r, t in expected}
    for (repo, tag), digest in expected.items():
        found = listed[key(item(source, repo, tag))]
        assert found["source_digest"] == found["target_digest"] == digest
        assert found["in_sync"] is True
        assert found["destination"] == f"{target.host}/mirror/{repo}:{tag}"

    # the password reached the registry (the copies worked) but nothing shows it
    assert daemon.stop() == 0
    exposed = {
        "/status": json.dumps(status),
        "/metrics": metrics.text,
        "log": daemon.log_text(),
        "state dir": "".join(
            p.read_bytes().decode("utf-8", "replace")
            for p in daemon.state_dir.iterdir()
            if p.is_file()
        ),
    }
    for where, text in exposed.items():
        assert password not in text, f"password in {where}"
    assert daemon.events("config loaded"), daemon.log_tail()


def test_drift_is_repaired_and_an_unreachable_target_counts_network_failures(
    plain_registry: Registry, plain_registry2: Registry, make_daemon: Make, tmp_path: Path
) -> None:
    source, target = plain_registry, plain_registry2
    images.push_oci_image(source, "app/web", "stable", seed=10)
    config = one_image_config(tmp_path, source, target, "app/web", "stable")
    daemon = make_daemon(config, watch=False).start()
    labels = item(source, "app/web", "stable")
    wait_until(lambda: in_sync(daemon, labels) == 1, CYCLE_TIMEOUT, message="first sync")

    # drift: the source tag moves; a SIGHUP with a changed file runs a cycle now
    moved = images.push_oci_image(source, "app/web", "stable", seed=11)
    touch_config(config)
    daemon.send(signal.SIGHUP)
    wait_until(
        lambda: target_digest(target, "app/web", "stable") == moved.digest,
        CYCLE_TIMEOUT,
        message="drift repaired on the target",
    )
    wait_until(lambda: in_sync(daemon, labels) == 1, CYCLE_TIMEOUT, message="in sync again")
    assert status_item(daemon, labels)["target_digest"] == moved.digest
    assert any(e.get("trigger") == "SIGHUP" for e in daemon.events("config loaded"))

    # drift again, with the target down: failures by reason, nothing in sync
    before = daemon.metrics()
    network_before = failures(before, labels, reason="network")
    failed_cycles = before.value("hangard_sync_cycles_total", result="failure") or 0
    moved_again = images.push_oci_image(source, "app/web", "stable", seed=12)
    target.stop()
    touch_config(config)
    daemon.send(signal.SIGHUP)

    def failing() -> bool:
        m = daemon.metrics()
        return (
            m.value("hangard_image_in_sync", **labels) == 0
            and (m.value("hangard_copy_consecutive_failures", **labels) or 0) >= 1
            and failures(m, labels, reason="network") > network_before
            and (m.value("hangard_sync_cycles_total", result="failure") or 0) > failed_cycles
        )

    wait_until(failing, CYCLE_TIMEOUT, message="network failure reported")
    found = status_item(daemon, labels)
    assert found["in_sync"] is False and found["last_error_reason"] == "network"

    # the target comes back; the failed cycle is over, so a reload cycles now
    target.restart()
    touch_config(config)
    daemon.send(signal.SIGHUP)

    def recovered() -> bool:
        m = daemon.metrics()
        return (
            m.value("hangard_image_in_sync", **labels) == 1
            and m.value("hangard_copy_consecutive_failures", **labels) == 0
        )

    wait_until(recovered, CYCLE_TIMEOUT, message="recovered")
    assert target_digest(target, "app/web", "stable") == moved_again.digest
    assert status_item(daemon, labels)["last_error_reason"] is None


def test_failures_are_counted_by_reason_while_the_good_image_syncs(
    plain_registry: Registry,
    plain_registry2: Registry,
    registry_factory: RegistryFactory,
    fault_proxy: FaultProxyFactory,
    make_daemon: Make,
    tmp_path: Path,
) -> None:
    """Each failure reaches the counter, ``/status``, one JSON ``item
    failed`` event and the failed list with its reason: ``not_found`` and
    ``unauthorized`` while planning, ``server_error`` while copying (the
    fault proxy answers the blob GETs of one image with 500)."""
    plain_source, target = plain_registry, plain_registry2
    source = fault_proxy(plain_source)
    locked = registry_factory("basic", username="mirrorbot", password="the-right-one")
    good = images.push_oci_image(plain_source, "good/app", "1", seed=20)
    images.push_oci_image(plain_source, "partial/app", "present", seed=21)
    images.push_oci_image(plain_source, "broken/app", "1", seed=23)
    source.fail(r"/v2/broken/app/blobs/", 500, times=None, method="GET")
    images.push_oci_image(locked, "locked/app", "1", seed=22)
    wrong = f"wrong-{secrets.token_hex(8)}"
    config = write_config(
        tmp_path / "hangard.yaml",
        desired_state(
            target,
            [
                entry(source, "good/app", "1"),
                entry(source, "partial/app", "gone"),
                entry(locked, "locked/app", "1"),
                entry(source, "broken/app", "1"),
            ],
            sources={
                source: None,
                locked: {"username": "mirrorbot", "password_env": "LOCKED_PASSWORD"},
            },
        ),
    )
    daemon = make_daemon(config, env={"LOCKED_PASSWORD": wrong}).start()
    wait_until(daemon.ready, CYCLE_TIMEOUT, message="first cycle")
    m = daemon.metrics()

    ok = item(source, "good/app", "1")
    assert m.value("hangard_image_in_sync", **ok) == 1
    assert target_digest(target, "good/app", "1") == good.digest
    assert m.total("hangard_copy_failures_total", image=ok["image"]) == 0

    # a source tag the config names that does not exist is a not_found failure
    gone = item(source, "partial/app", "gone")
    assert m.value("hangard_image_in_sync", **gone) == 0
    assert m.value("hangard_image_missing", **gone) == 1
    assert status_item(daemon, gone)["source_digest"] is None

    failed_list = daemon.state_dir / "hangard-failed.txt"
    listed = failed_list.read_text().splitlines()
    events = daemon.events("item failed")
    for labels, reason, stage, line in [
        (gone, "not_found", "plan", f"{source.host}/partial/app mirror/partial/app gone"),
        (
            item(locked, "locked/app", "1"),
            "unauthorized",
            "plan",
            f"{locked.host}/locked/app mirror/locked/app 1",
        ),
        (
            item(source, "broken/app", "1"),
            "server_error",
            "copy",
            f"{source.host}/broken/app mirror/broken/app 1@",
        ),
    ]:
        assert failures(m, labels) == failures(m, labels, reason=reason) == 1, reason
        entry_ = status_item(daemon, labels)
        assert entry_["last_error_reason"] == reason and entry_["last_error"], reason
        (event,) = [e for e in events if e["image"] == labels["image"]]
        assert (event["tag"], event["target"], event["reason"]) == (
            labels["tag"],
            TARGET,
            reason,
        )
        assert event["stage"] == stage and event["message"] and "hint" in event
        assert event["level"] == "error"
        assert any(found.startswith(line) for found in listed), (line, listed)
    (summary_,) = daemon.events("cycle finished")
    assert (summary_["copied"], summary_["failed"], summary_["skipped"]) == (1, 3, 0)

    # wrong credentials: unauthorized, and no other reason
    denied = item(locked, "locked/app", "1")
    assert m.value("hangard_image_in_sync", **denied) == 0
    assert m.value("hangard_copy_consecutive_failures", **denied) == 1
    by_reason = {
        lbl["reason"]: v
        for lbl, v in m.series("hangard_copy_failures_total", image=denied["image"])
        if v
    }
    assert by_reason == {"unauthorized": 1}
    assert status_item(daemon, denied)["last_error_reason"] == "unauthorized"
    assert m.value("hangard_sync_cycles_total", result="failure") == 1
    assert m.value("hangard_desired_images") == 4
    assert not images.manifest_exists(target, "mirror/locked/app", "1")
    assert wrong not in daemon.log_text() + m.text + json.dumps(daemon.status())


def test_sighup_with_a_broken_config_keeps_the_last_good_one(
    plain_registry: Registry, plain_registry2: Registry, make_daemon: Make, tmp_path: Path
) -> None:
    source, target = plain_registry, plain_registry2
    images.push_oci_image(source, "app/one", "1", seed=30)
    added = images.push_oci_image(source, "app/two", "1", seed=31)
    good = desired_state(
        target, [entry(source, "app/one", "1")], sources={source: None}, schedule="10s"
    )
    config = write_config(tmp_path / "hangard.yaml", good)
    daemon = make_daemon(config, watch=False).start()
    one, two = item(source, "app/one", "1"), item(source, "app/two", "1")
    wait_until(daemon.ready, CYCLE_TIMEOUT, message="first cycle")
    assert in_sync(daemon, one) == 1

    broken = yaml.safe_dump(good, sort_keys=False).replace("tags:", "tagz:")
    write_config(config, broken)
    daemon.send(signal.SIGHUP)
    wait_until(
        lambda: daemon.metrics().value("hangard_config_last_reload_successful") == 0,
        CYCLE_TIMEOUT,
        message="reload rejected",
    )
    status = daemon.status()
    assert status["last_reload_successful"] is False
    assert any("tagz" in problem for problem in status["last_reload_errors"])
    assert status["config_generation"] == 1
    assert daemon.running and daemon.get("/healthz").status_code == 200
    m = daemon.metrics()
    assert m.value("hangard_image_in_sync", **one) == 1
    assert m.value("hangard_desired_images") == 1
    assert daemon.events("config reload rejected; keeping the last good config")

    # the last good config keeps syncing on its schedule (the one wait for the interval)
    moved = images.push_oci_image(source, "app/one", "1", seed=32)
    wait_until(
        lambda: target_digest(target, "app/one", "1") == moved.digest,
        25.0,
        message="drift repaired by the 10s schedule of the last good config",
    )
    wait_until(lambda: in_sync(daemon, one) == 1, CYCLE_TIMEOUT, message="in sync again")
    assert daemon.metrics().value("hangard_config_last_reload_successful") == 0

    # fixed, with one more image: accepted, and the new item is synced
    fixed = desired_state(
        target,
        [entry(source, "app/one", "1"), entry(source, "app/two", "1")],
        sources={source: None},
        schedule="10s",
    )
    write_config(config, fixed)
    daemon.send(signal.SIGHUP)

    def picked_up() -> bool:
        m = daemon.metrics()
        return (
            m.value("hangard_config_last_reload_successful") == 1
            and m.value("hangard_image_in_sync", **two) == 1
            and m.value("hangard_image_in_sync", **one) == 1
        )

    wait_until(picked_up, CYCLE_TIMEOUT, message="fixed config loaded and the new image synced")
    assert target_digest(target, "app/two", "1") == added.digest
    status = daemon.status()
    assert status["config_generation"] == 2
    assert status["last_reload_errors"] == []
    assert daemon.metrics().value("hangard_desired_images") == 2


def test_editing_the_file_reloads_without_a_signal(
    plain_registry: Registry, plain_registry2: Registry, make_daemon: Make, tmp_path: Path
) -> None:
    source, target = plain_registry, plain_registry2
    images.push_oci_image(source, "app/one", "1", seed=40)
    added = images.push_oci_image(source, "app/three", "1", seed=41)
    good = desired_state(target, [entry(source, "app/one", "1")], sources={source: None})
    config = write_config(tmp_path / "hangard.yaml", good)
    daemon = make_daemon(config).start()
    wait_until(daemon.ready, CYCLE_TIMEOUT, message="first cycle")

    write_config(config, yaml.safe_dump(good, sort_keys=False).replace("tags:", "tagz:"))
    wait_until(
        lambda: daemon.metrics().value("hangard_config_last_reload_successful") == 0,
        CYCLE_TIMEOUT,
        message="the watcher saw the broken file",
    )
    assert daemon.status()["config_generation"] == 1

    fixed = desired_state(
        target,
        [entry(source, "app/one", "1"), entry(source, "app/three", "1")],
        sources={source: None},
    )
    write_config(config, fixed)
    three = item(source, "app/three", "1")
    wait_until(
        lambda: in_sync(daemon, three) == 1, CYCLE_TIMEOUT, message="the watcher loaded the fix"
    )
    assert daemon.metrics().value("hangard_config_last_reload_successful") == 1
    assert daemon.status()["config_generation"] == 2
    assert target_digest(target, "app/three", "1") == added.digest
    assert {e.get("trigger") for e in daemon.events("config loaded")} == {"start", "file changed"}


def test_sigterm_during_a_large_copy_never_leaves_a_tag_without_its_blobs(
    plain_registry: Registry, plain_registry2: Registry, make_daemon: Make, tmp_path: Path
) -> None:
    source, target = plain_registry, plain_registry2
    big = images.push_big_image(source, "big/app", "v1", 200 << 20, seed=50)
    config = one_image_config(tmp_path, source, target, "big/app", "v1")
    grace = 1.0
    daemon = make_daemon(config, watch=False, shutdown_grace=grace).start()
    wait_until(
        lambda: target.count_requests("POST", r"/blobs/uploads/$") >= 1,
        CYCLE_TIMEOUT,
        interval=0.01,
        message="blob upload started on the target",
    )
    started = time.monotonic()
    daemon.send(signal.SIGTERM)
    assert daemon.wait(grace + 10) == 0
    elapsed = time.monotonic() - started
    assert elapsed < grace + 5, f"exit took {elapsed:.1f}s"

    repo = "mirror/big/app"
    if images.manifest_exists(target, repo, "v1"):
        # the copy finished within the grace period: then it is complete
        raw = images.get_manifest_raw(target, repo, "v1")
        assert images.sha256_digest(raw) == big.digest
        manifest = json.loads(raw)
        for descriptor in [manifest["config"], *manifest["layers"]]:
            assert images.blob_exists(target, repo, descriptor["digest"])
        assert not daemon.events("abandoning copies after the grace period")
    else:
        assert daemon.events("abandoning copies after the grace period"), daemon.log_tail()
        assert daemon.events("cycle cancelled"), daemon.log_tail()
    assert daemon.events("stopped"), daemon.log_tail()


def test_a_restart_reports_the_saved_state_before_the_first_cycle(
    plain_registry: Registry, plain_registry2: Registry, make_daemon: Make, tmp_path: Path
) -> None:
    source, target = plain_registry, plain_registry2
    images.push_oci_image(source, "app/kept", "1", seed=60)
    config = one_image_config(tmp_path, source, target, "app/kept", "1")
    daemon = make_daemon(config, watch=False).start()
    labels = item(source, "app/kept", "1")
    wait_until(daemon.ready, CYCLE_TIMEOUT, message="first cycle")
    assert in_sync(daemon, labels) == 1
    assert daemon.stop() == 0
    saved = json.loads((daemon.state_dir / "state.json").read_text())
    assert [i["in_sync"] for i in saved["items"]] == [True]

    # the source is down, so the first cycle of the new process cannot finish soon
    source.stop()
    daemon.start()
    m = daemon.metrics()
    status = daemon.status()
    assert daemon.get("/readyz").status_code == 503  # so both were read before it
    assert m.value("hangard_image_in_sync", **labels) == 1
    assert m.value("hangard_desired_images") == 1
    assert m.value("hangard_image_last_success_timestamp_seconds", **labels) == pytest.approx(
        saved["items"][0]["last_success"]
    )
    (found,) = status["items"]
    assert key(found) == key(labels)
    assert found["in_sync"] is True and found["target_digest"] == saved["items"][0]["target_digest"]
    assert status["ready"] is False


def test_sd_notify_ready_reloading_stopping(
    plain_registry: Registry, plain_registry2: Registry, make_daemon: Make, tmp_path: Path
) -> None:
    source, target = plain_registry, plain_registry2
    images.push_oci_image(source, "app/one", "1", seed=70)
    config = one_image_config(tmp_path, source, target, "app/one", "1")
    with NotifySocket(tmp_path / "notify.sock") as notify:
        daemon = make_daemon(config, watch=False, env={"NOTIFY_SOCKET": str(notify.path)}).start()
        ready = notify.wait_for("READY=1")
        assert any(line.startswith("STATUS=") for line in notify.messages[ready])

        touch_config(config)
        daemon.send(signal.SIGHUP)
        reloading = notify.wait_for("RELOADING=1", after=ready + 1)
        notify.wait_for("READY=1", after=reloading + 1)

        assert daemon.stop() == 0
        notify.wait_for("STOPPING=1", after=reloading + 1)
    assert all("RELOADING=1" not in m for m in notify.messages[:reloading])


def test_a_reload_during_a_cycle_runs_another_cycle_after_it(
    plain_registry: Registry, plain_registry2: Registry, make_daemon: Make, tmp_path: Path
) -> None:
    source, target = plain_registry, plain_registry2
    images.push_big_image(source, "big/app", "v1", 100 << 20, seed=80)
    added = images.push_oci_image(source, "app/added", "1", seed=81)
    first = desired_state(target, [entry(source, "big/app", "v1")], sources={source: None})
    config = write_config(tmp_path / "hangard.yaml", first)
    daemon = make_daemon(config, watch=False).start()
    wait_until(
        lambda: target.count_requests("POST", r"/blobs/uploads/$") >= 1,
        CYCLE_TIMEOUT,
        interval=0.01,
        message="the big copy started",
    )
    second = desired_state(
        target,
        [entry(source, "big/app", "v1"), entry(source, "app/added", "1")],
        sources={source: None},
    )
    write_config(config, second)
    daemon.send(signal.SIGHUP)

    labels = item(source, "app/added", "1")
    wait_until(
        lambda: in_sync(daemon, labels) == 1, CYCLE_TIMEOUT, message="a cycle after the reload"
    )
    assert target_digest(target, "app/added", "1") == added.digest
    assert in_sync(daemon, item(source, "big/app", "v1")) == 1
    # the reload did land while the first cycle was copying
    events = [
        e["event"] for e in daemon.events() if e.get("event") in {"config loaded", "cycle finished"}
    ]
    assert events[:3] == ["config loaded", "config loaded", "cycle finished"], events


# ------------------------------------------------- refusing to start (items 10, 20)
def test_an_unwritable_state_dir_refuses_to_start_with_one_line_and_exit_2(
    tmp_path: Path, make_daemon: Make, plain_registry: Registry
) -> None:
    """Item 20: today it starts, reports ready and logs "could not write
    state" every cycle."""
    config = one_image_config(tmp_path, plain_registry, plain_registry, "app", "v1")
    daemon = make_daemon(config)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the state dir should be\n")
    daemon.state_dir = blocker / "state"
    code, output = daemon.run_to_exit()
    assert code == 2, output
    assert "Traceback" not in output
    (line,) = output.strip().splitlines()
    event = json.loads(line)
    assert event["event"] == "state directory is not writable"
    assert event["path"] == str(blocker / "state")


@pytest.mark.parametrize("how", ["taken", "invalid host", "bare port"])
def test_a_metrics_address_that_cannot_be_bound_exits_2_with_one_line(
    tmp_path: Path, make_daemon: Make, plain_registry: Registry, how: str
) -> None:
    """Item 10 (``hangard run`` part): an ``OSError`` on bind, or
    ``HANGARD_METRICS_ADDRESS=5549``, is one error line and exit 2."""
    import socket

    config = one_image_config(tmp_path, plain_registry, plain_registry, "app", "v1")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        if how == "taken":
            daemon = make_daemon(config, args=["--metrics-address", f"127.0.0.1:{port}"])
            code, output = daemon.run_to_exit()
        elif how == "invalid host":
            daemon = make_daemon(config, args=["--metrics-address", "256.1.1.1:9469"])
            code, output = daemon.run_to_exit()
        else:
            daemon = make_daemon(config)
            code, output = _run_without_address(daemon, {"HANGARD_METRICS_ADDRESS": "5549"})
    assert code == 2, output
    assert "Traceback" not in output
    assert len(output.strip().splitlines()) == 1, output
    if how == "taken":
        assert json.loads(output)["event"] == "cannot listen on the metrics address"
        assert "address already in use" in output.lower()
    # naming the variable in the settings error is item 17 (hangard/cli)


def _run_without_address(daemon: HangardDaemon, env: dict[str, str]) -> tuple[int, str]:
    import subprocess

    command = list(daemon.command)
    at = command.index("--metrics-address")
    del command[at : at + 2]
    done = subprocess.run(
        command,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        cwd=daemon.workdir,
        env={**daemon._base_env, "HANGARD_LOG_FORMAT": "json", **env},
        timeout=20,
        check=False,
    )
    return done.returncode, (done.stdout + done.stderr).decode(errors="replace")


# (repo, reason, stage, fault): each image of the matrix fails one way
def _corrupt(data: bytes) -> bytes:
    return bytes([data[0] ^ 0xFF]) + data[1:] if data else data


FAULTS: list[tuple[str, str, str, Callable[[FaultProxy, str], object]]] = [
    (
        "plan-429/app",
        "rate_limited",
        "plan",
        lambda p, r: p.fail(f"/v2/{r}/manifests/", 429, times=None, headers={"Retry-After": "0"}),
    ),
    (
        "copy-429/app",
        "rate_limited",
        "copy",
        lambda p, r: p.fail(
            f"/v2/{r}/blobs/", 429, times=None, method="GET", headers={"Retry-After": "0"}
        ),
    ),
    (
        "plan-500/app",
        "server_error",
        "plan",
        lambda p, r: p.fail(f"/v2/{r}/manifests/", 500, times=None),
    ),
    (
        "plan-net/app",
        "network",
        "plan",
        lambda p, r: p.fail(f"/v2/{r}/manifests/", 0, times=None, drop=True),
    ),
    (
        "copy-net/app",
        "network",
        "copy",
        lambda p, r: p.fail(f"/v2/{r}/blobs/", 0, times=None, method="GET", drop=True),
    ),
    (
        "copy-404/app",
        "not_found",
        "copy",
        lambda p, r: p.fail(f"/v2/{r}/blobs/", 404, times=None, method="GET"),
    ),
    (
        "copy-corrupt/app",
        "digest_mismatch",
        "copy",
        lambda p, r: p.tamper(f"/v2/{r}/blobs/", body=_corrupt),
    ),
    (
        "plan-corrupt/app",
        "digest_mismatch",
        "plan",
        lambda p, r: p.tamper(f"/v2/{r}/manifests/", body=_corrupt),
    ),
    (
        "plan-slow/app",
        "timeout",
        "plan",
        lambda p, r: p.stall(f"/v2/{r}/manifests/", STALL, method="HEAD"),
    ),
    (
        "copy-slow/app",
        "timeout",
        "copy",
        lambda p, r: p.stall(f"/v2/{r}/blobs/", STALL, method="GET"),
    ),
    (
        "copy-401/app",
        "unauthorized",
        "copy",
        lambda p, r: p.fail(
            f"/v2/{r}/blobs/",
            401,
            times=None,
            method="GET",
            headers={"WWW-Authenticate": 'Basic realm="registry"'},
            body={"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]},
        ),
    ),
    (
        "copy-403/app",
        "unauthorized",
        "copy",
        lambda p, r: p.fail(
            f"/v2/{r}/manifests/",
            403,
            times=None,
            method="GET",
            body={"errors": [{"code": "DENIED", "message": "requested access is denied"}]},
        ),
    ),
    # the two below are stored without ``mediaType`` (see _untyped), so the
    # Content-Type the proxy rewrites is the only statement of their type
    (
        "plan-type/app",
        "unsupported_media_type",
        "plan",
        lambda p, r: p.tamper(f"/v2/{r}/manifests/", headers={"Content-Type": UNKNOWN_TYPE}),
    ),
    (
        "copy-type/app",
        "unsupported_media_type",
        "copy",
        lambda p, r: p.tamper(f"/v2/{r}/manifests/", headers={"Content-Type": UNKNOWN_TYPE}),
    ),
]
#: longer than the source's ``timeout`` (SOURCE_SETTINGS), short enough for one cycle
STALL = 3.0
SOURCE_SETTINGS = {"http": True, "timeout": 1.0, "retry_times": 0, "retry_delay": 0.01}
UNKNOWN_TYPE = "application/vnd.example.unknown.v1+json"
#: planned with a platform filter, so planning GETs the manifest (by digest)
FILTERED = {"plan-type/app": ["linux/amd64"], "plan-corrupt/app": ["linux/amd64"]}


def _untyped(registry: Registry, repo: str, seed: int) -> None:
    """Push an OCI image whose manifest omits ``mediaType`` (optional in OCI,
    accepted by distribution 2.8, which refuses unknown ``mediaType`` values)."""
    image = images.build_image(seed)
    doc = json.loads(image.manifest)
    del doc["mediaType"]
    image.manifest = json.dumps(doc).encode()
    images.push_image(registry, repo, image, "1")


def test_each_reason_is_counted_while_planning_and_while_copying(
    plain_registry: Registry,
    plain_registry2: Registry,
    fault_proxy: FaultProxyFactory,
    make_daemon: Make,
    tmp_path: Path,
) -> None:
    """The sibling of the test above (issue 9, "Done when"): one image per
    (reason, stage), each failing through the fault proxy in front of a real
    registry, and each reaching the counter, ``/status``, one ``item
    failed`` event with its stage and the failed list.

    ``timeout``: the source's ``registries:`` ``timeout`` is 1 s with
    ``retry_times: 0``, and the proxy stalls the manifest HEAD (planning)
    or the blob GETs (copying) for longer. ``unauthorized`` while copying: the
    proxy lets HEADs through and refuses the blob GETs (401 with a
    challenge) or the manifest GET (403 ``DENIED``). ``unsupported_media_type``:
    distribution 2.8 refuses to store an unknown ``mediaType``, so the image
    is stored without one and the proxy rewrites the ``Content-Type`` of its
    manifest GETs (the body, hence the digest, is untouched: a rewritten body
    would be a ``digest_mismatch``, rightly, since manifests are fetched by
    digest). Planning GETs a manifest (by the digest its HEAD saw) only to
    read the platforms of a platform-filtered item, hence ``platforms`` on
    ``plan-type/app`` and ``plan-corrupt/app`` (whose manifest body the proxy
    corrupts: ``digest_mismatch`` while planning).

    ``not_found``/``unauthorized`` while planning and ``server_error``
    while copying are the test above."""
    plain_source, target = plain_registry, plain_registry2
    source = fault_proxy(plain_source)
    for n, (repo, _, _, fault) in enumerate(FAULTS):
        if repo.endswith("-type/app"):
            _untyped(plain_source, repo, seed=60 + n)
        else:
            images.push_oci_image(plain_source, repo, "1", seed=60 + n)
        fault(source, repo)
    doc = desired_state(
        target,
        [
            {
                **entry(source, repo, "1"),
                **({"platforms": FILTERED[repo]} if repo in FILTERED else {}),
            }
            for repo, *_ in FAULTS
        ],
        sources={source: None},
    )
    doc["registries"][source.host] = SOURCE_SETTINGS
    config = write_config(tmp_path / "hangard.yaml", doc)
    daemon = make_daemon(config).start()
    wait_until(daemon.ready, 60, message="first cycle")
    m = daemon.metrics()
    listed = (daemon.state_dir / "hangard-failed.txt").read_text().splitlines()
    events = daemon.events("item failed")
    wrong = []
    for repo, reason, stage, _ in FAULTS:
        labels = item(source, repo, "1")
        got = {
            "counted": failures(m, labels, reason=reason),
            "status": status_item(daemon, labels)["last_error_reason"],
            "events": [(e["reason"], e["stage"]) for e in events if e["image"] == labels["image"]],
            "listed": any(f"{source.host}/{repo} mirror/{repo} 1" in line for line in listed),
        }
        want = {"counted": 1, "status": reason, "events": [(reason, stage)], "listed": True}
        if got != want:
            wrong.append((repo, got))
    assert not wrong, wrong
