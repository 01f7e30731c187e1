"""Killed mid-way, in subprocesses (SIGKILL): a save leaves only
``FILE.zip.partial`` and the same command run again resumes it, keeping
what was complete (those blobs are not fetched again), and the result
verifies; a killed load leaves no tag pointing at missing content and a
rerun completes it. A stalled request (tests/harness/faults.py) marks the
moment to kill; every wait polls with a deadline."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.harness import images, skopeo
from tests.harness.faults import FaultProxy
from tests.harness.registry import Registry
from tests.helpers_cli import Hangard

pytestmark = pytest.mark.usefixtures("tmp_authfile")

FaultProxyFactory = Callable[[Registry], FaultProxy]


def wait_for(what: str, check: Callable[[], bool], proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while not check():
        if proc.poll() is not None:
            _, err = proc.communicate()
            raise AssertionError(f"exited {proc.returncode} before {what}: {err.decode()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"no {what} within 30s")
        time.sleep(0.02)  # a poll interval, not a synchronisation


def kill(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()
    proc.communicate(timeout=30)
    assert proc.returncode == -9


def test_a_killed_save_resumes_and_verifies(
    hangard: Hangard, plain_registry: Registry, fault_proxy: FaultProxyFactory, tmp_path: Path
) -> None:
    proxy = fault_proxy(plain_registry)
    first = images.push_oci_image(plain_registry, "a", "1", seed=51)
    second = images.push_oci_image(plain_registry, "b", "1", seed=52)
    stalled = f"/v2/b/blobs/{second.layers[1].digest}"
    proxy.stall(stalled, 120, times=1, method="GET")
    archive = tmp_path / "out.zip"
    command = [
        "save", f"{proxy.host}/a:1", f"{proxy.host}/b:1", "-o", str(archive),
        "--plain-http", "--jobs", "1", "--no-progress",
    ]  # fmt: skip

    proc = hangard.start(*command)
    wait_for("the stalled blob GET", lambda: proxy.count("GET", stalled) == 1, proc)
    kill(proc)
    partial = archive.with_name("out.zip.partial")
    assert partial.exists() and not archive.exists()
    fetched = proxy.count("GET", f"/v2/a/blobs/{first.layers[0].digest}")
    assert fetched == 1

    again = hangard(*command)
    assert again.code == 0, again.err
    assert "resumed an interrupted save" in again.out
    assert archive.exists() and not partial.exists()
    assert proxy.count("GET", f"/v2/a/blobs/{first.layers[0].digest}") == fetched
    checked = hangard("archive", "verify", str(archive))
    assert checked.code == 0 and "2 images" in checked.out, checked.err


def test_a_killed_load_leaves_no_dangling_tag_and_a_rerun_completes(
    hangard: Hangard,
    plain_registry: Registry,
    plain_registry2: Registry,
    fault_proxy: FaultProxyFactory,
    tmp_path: Path,
) -> None:
    index = images.push_oci_index(plain_registry, "app", "v1", seed=53)
    archive = tmp_path / "a.zip"
    saved = hangard("save", f"{plain_registry.host}/app:v1", "-o", str(archive), "--plain-http")
    assert saved.code == 0, saved.err
    proxy = fault_proxy(plain_registry2)
    proxy.stall(r"/v2/app/manifests/sha256:", 120, times=1, method="PUT")
    command = ["load", str(archive), "--to", proxy.host, "--plain-http", "--jobs", "1"]

    proc = hangard.start(*command)
    wait_for("a child manifest PUT", lambda: proxy.count("PUT", "/manifests/sha256:") >= 1, proc)
    kill(proc)
    assert not images.manifest_exists(plain_registry2, "app", "v1")

    again = hangard(*command)
    assert again.code == 0, again.err
    assert skopeo.inspect_raw(plain_registry2, "app", "v1") == index.manifest
    for child in index.children:
        assert images.manifest_exists(plain_registry2, "app", child.digest)
        assert all(images.blob_exists(plain_registry2, "app", b.digest) for b in child.blobs)
