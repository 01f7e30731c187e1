"""Cancellation (issue 9, item 9): when one blob of a copy fails, or the
copy is interrupted, the sibling transfers stop and every upload session
they opened on the target is committed or DELETEd, never left dangling; a
Ctrl-C is one line, "interrupted", and exit code 130."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path

import pytest

from hangard.copy import Copier
from hangard.errors import NotFoundError
from hangard.registry.options import RegistryOptions
from tests.conftest import FaultProxyFactory
from tests.harness import images
from tests.harness.daemon import daemons, wait_until
from tests.harness.faults import FaultProxy
from tests.harness.images import Image, build_manifest, make_config, make_layer
from tests.harness.registry import Registry
from tests.helpers_cli import Hangard
from tests.helpers_copy import make_client, ref
from tests.test_daemon import one_image_config

HOLD = 8.0


def push_two_layer_image(registry: Registry, repo: str) -> Image:
    """A ~2 MiB layer and a small one."""
    big = make_layer(901, files=2, file_size=1 << 20)
    small = make_layer(902)
    config = make_config([big, small], seed=9)
    manifest, media_type = build_manifest(config, [big, small])
    return images.push_image(
        registry, repo, Image(manifest, media_type, config, [big, small]), "v1"
    )


def uploads(registry: Registry) -> tuple[int, int]:
    """Upload sessions opened on ``registry``, and those that were closed:
    committed or DELETEd. A session counts once, even when a cancellation
    that raced its commit also DELETEd it (cancelling is best effort)."""
    log = [e for e in registry.access_log() if "/blobs/uploads/" in e.path]
    opened = sum(1 for e in log if e.method == "POST" and e.status == 202)
    closed = {
        e.path.split("?")[0] for e in log if (e.method, e.status) in {("PUT", 201), ("DELETE", 204)}
    }
    return opened, len(closed)


async def test_a_failing_blob_cancels_its_siblings_and_their_uploads(
    plain_registry: Registry, plain_registry2: Registry, fault_proxy: FaultProxyFactory
) -> None:
    image = push_two_layer_image(plain_registry, "two/app")
    big, small = image.layers
    source = fault_proxy(plain_registry)
    source.hold(rf"/blobs/{big.digest}$", until_in_flight=99, timeout=HOLD)
    source.fail(rf"/blobs/{small.digest}$", 404, method="GET", times=None)

    started = time.monotonic()
    hosts = {source.host: RegistryOptions(http=True)}
    async with make_client(plain_registry, plain_registry2, hosts=hosts) as client:
        with pytest.raises(NotFoundError):
            await Copier(client).copy(
                ref(source, "two/app", "v1"), ref(plain_registry2, "two/app", "v1")
            )
    elapsed = time.monotonic() - started

    assert elapsed < HOLD - 2, "the copy waited for the held sibling"
    wait_until(lambda: source.count("GET", rf"/blobs/{big.digest}$"), message="big GET")
    # every session opened is closed; a DELETE sent as the copy unwound may
    # reach the registry's log a moment after copy() returned
    wait_until(
        lambda: uploads(plain_registry2)[0] == uploads(plain_registry2)[1],
        5,
        message="every upload session closed",
    )
    opened, closed = uploads(plain_registry2)
    assert opened >= 1
    assert opened == closed, (opened, closed)
    assert not images.blob_exists(plain_registry2, "two/app", big.digest)
    assert not images.manifest_exists(plain_registry2, "two/app", "v1")


def interrupt_mid_transfer(
    proc: subprocess.Popen[bytes], source: FaultProxy, digest: str, target: Registry
) -> None:
    """SIGINT to ``proc`` while it streams ``digest``; then it has exited
    130 with the one line "interrupted", printed nothing else, and left no
    upload session open and no manifest on ``target``."""
    try:
        wait_until(lambda: source.count("GET", rf"/blobs/{digest}$"), message="mid-transfer")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=HOLD)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()

    assert proc.returncode == 130, err.decode()
    assert err.decode() == "interrupted\n"
    assert out == b""
    opened, closed = uploads(target)
    assert opened == closed, (opened, closed)
    assert not images.manifest_exists(target, "two/app", "v1")


def test_ctrl_c_during_copy_is_one_line_and_exit_130(
    plain_registry: Registry,
    plain_registry2: Registry,
    fault_proxy: FaultProxyFactory,
    hangard: Hangard,
) -> None:
    image = push_two_layer_image(plain_registry, "two/app")
    big = image.layers[0]
    source = fault_proxy(plain_registry)
    source.hold(rf"/blobs/{big.digest}$", until_in_flight=99, timeout=HOLD)
    proc = hangard.start(
        "copy",
        "--src-plain-http",
        "--dest-plain-http",
        f"docker://{source.host}/two/app:v1",
        f"docker://{plain_registry2.host}/two/app:v1",
    )
    interrupt_mid_transfer(proc, source, big.digest, plain_registry2)


def test_ctrl_c_during_sync_is_one_line_and_exit_130(
    plain_registry: Registry,
    plain_registry2: Registry,
    fault_proxy: FaultProxyFactory,
    hangard: Hangard,
    tmp_path: Path,
) -> None:
    """The same for ``hangard sync --once``: a SIGINT while the plan's copy
    streams a blob exits 130 with the one stderr line, no traceback and no
    report, leaving no upload session open on the target."""
    image = push_two_layer_image(plain_registry, "two/app")
    big = image.layers[0]
    source = fault_proxy(plain_registry)
    source.hold(rf"/blobs/{big.digest}$", until_in_flight=99, timeout=HOLD)
    config = one_image_config(tmp_path, source, plain_registry2, "two/app", "v1")
    proc = hangard.start("sync", "--once", "--no-progress", str(config))
    interrupt_mid_transfer(proc, source, big.digest, plain_registry2)


def test_sigterm_with_no_grace_mid_cycle_stops_without_a_traceback(
    plain_registry: Registry,
    plain_registry2: Registry,
    fault_proxy: FaultProxyFactory,
    tmp_path: Path,
) -> None:
    image = push_two_layer_image(plain_registry, "two/app")
    big = image.layers[0]
    source = fault_proxy(plain_registry)
    source.hold(rf"/blobs/{big.digest}$", until_in_flight=99, timeout=HOLD)
    config = one_image_config(tmp_path, source, plain_registry2, "two/app", "v1")
    with daemons(tmp_path / "daemon") as make:
        daemon = make(config, watch=False, shutdown_grace=0).start()
        wait_until(lambda: source.count("GET", rf"/blobs/{big.digest}$"), message="mid-cycle")
        daemon.send(signal.SIGTERM)
        code = daemon.wait(HOLD)
        log = daemon.log_text()

    assert code == 0, log
    assert "Traceback" not in log
    assert "CancelledError" not in log
    assert daemon.events("stopped"), log
    opened, closed = uploads(plain_registry2)
    assert opened == closed, (opened, closed)


async def test_an_upload_the_registry_opens_after_the_copy_is_cancelled_is_closed(
    plain_registry: Registry, plain_registry2: Registry, fault_proxy: FaultProxyFactory
) -> None:
    """The POST that opens an upload is on its way when the copy is
    cancelled (the proxy holds it, then forwards it: the registry opens the
    session after the cancellation). hangard still waits for its answer and
    DELETEs the session, so none is left open."""
    images.push_image(plain_registry, "one/app", images.build_image(1), "v1")
    target = fault_proxy(plain_registry2)
    target.stall(r"/blobs/uploads/$", 1.0, method="POST")
    hosts = {target.host: RegistryOptions(http=True)}
    async with make_client(plain_registry, plain_registry2, hosts=hosts) as client:
        copy = asyncio.ensure_future(
            Copier(client).copy(ref(plain_registry, "one/app", "v1"), ref(target, "one/app", "v1"))
        )
        deadline = time.monotonic() + HOLD
        while not target.count("POST", r"/blobs/uploads/$"):
            assert time.monotonic() < deadline, "no upload was started"
            await asyncio.sleep(0.01)  # the poll interval of the proxy's log
        copy.cancel()
        with pytest.raises(asyncio.CancelledError):
            await copy
    opened, closed = uploads(plain_registry2)
    assert opened >= 1
    assert opened == closed, (opened, closed)
    assert not images.manifest_exists(plain_registry2, "one/app", "v1")
