"""A big blob is streamed, not buffered: peak RSS of a ``hangard copy``
process stays below the size of the blob it moves."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import images
from tests.harness.authfile import AuthFiles
from tests.harness.registry import Registry
from tests.helpers_cli import hangard_env

MiB = 1 << 20
BLOB_SIZE = 100 * MiB
RSS_LIMIT_KIB = 100 * 1024

# Linux folds the memory high-water mark of the process that forks into the
# child's ``ru_maxrss`` at exec, so a child of a big pytest process would
# report pytest's peak. A small launcher runs hangard and measures it with
# ``os.wait4``; hangard's ``ru_maxrss`` then only covers the launcher's few
# MiB and hangard itself.
LAUNCHER = """
import json, os, subprocess, sys
report, *command = sys.argv[1:]
proc = subprocess.Popen(command)
_, status, usage = os.wait4(proc.pid, 0)
with open(report, "w") as f:
    json.dump({"exit_code": os.waitstatus_to_exitcode(status), "maxrss_kib": usage.ru_maxrss}, f)
"""


@pytest.mark.slow
def test_copy_of_a_100_mib_blob_stays_under_100_mib_rss(
    plain_registry: Registry,
    plain_registry2: Registry,
    tmp_authfile: AuthFiles,
    tmp_path: Path,
) -> None:
    big = images.push_big_image(plain_registry, "big/app", "v1", size=BLOB_SIZE, seed=1)
    report, out, err = tmp_path / "rusage.json", tmp_path / "stdout", tmp_path / "stderr"
    command = [
        sys.executable,
        "-m",
        "hangard",
        "copy",
        f"docker://{plain_registry.host}/big/app:v1",
        f"docker://{plain_registry2.host}/big/copy:v1",
        "--src-plain-http",
        "--dest-plain-http",
        "--no-progress",
    ]

    with out.open("wb") as stdout, err.open("wb") as stderr:
        launcher = subprocess.run(
            [sys.executable, "-c", LAUNCHER, str(report), *command],
            env=hangard_env(tmp_authfile),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            timeout=120,
            check=False,
        )
    assert launcher.returncode == 0, err.read_text()
    measured = json.loads(report.read_text())

    assert measured["exit_code"] == 0, err.read_text()
    assert measured["maxrss_kib"] < RSS_LIMIT_KIB, f"peak RSS {measured['maxrss_kib']} KiB"
    assert images.blob_exists(plain_registry2, "big/copy", big.layer_digest)
    stored = plain_registry2.blob_path(big.layer_digest)
    assert stored.stat().st_size == BLOB_SIZE
    with stored.open("rb") as f:
        assert "sha256:" + hashlib.file_digest(f, "sha256").hexdigest() == big.layer_digest
    assert images.get_manifest_raw(plain_registry2, "big/copy", "v1") == big.manifest
    assert plain_registry2.count_requests("PUT", r"/blobs/uploads/", 201) == 2  # layer + config
    assert f"copied {plain_registry.host}/big/app:v1" in out.read_text()


CHUNKED_BLOB_SIZE = 600 * MiB
# The copy of test_copy_of_a_100_mib_blob_stays_under_100_mib_rss, with the
# target forced onto the chunked path (no CLI flag does that).
CHUNKED_COPY = """
import asyncio, sys
from hangard.copy import Copier
from hangard.core.reference import parse_reference
from hangard.registry.client import RegistryClient
from hangard.registry.options import ClientOptions, RegistryOptions
src, dst = sys.argv[1:]

async def main() -> None:
    options = ClientOptions(
        registries={
            parse_reference(src).registry: RegistryOptions(http=True),
            parse_reference(dst).registry: RegistryOptions(http=True, chunk_size=16 << 20),
        }
    )
    async with RegistryClient(options) as client:
        await Copier(client).copy(parse_reference(src), parse_reference(dst))

asyncio.run(main())
"""


@pytest.mark.slow
def test_chunked_upload_of_a_600_mib_blob_stays_under_100_mib_rss(
    plain_registry: Registry,
    plain_registry2: Registry,
    tmp_authfile: AuthFiles,
    tmp_path: Path,
) -> None:
    big = images.push_big_image(plain_registry, "big/app", "v1", size=CHUNKED_BLOB_SIZE, seed=2)
    report, err = tmp_path / "rusage.json", tmp_path / "stderr"
    command = [
        sys.executable,
        "-c",
        CHUNKED_COPY,
        f"{plain_registry.host}/big/app:v1",
        f"{plain_registry2.host}/big/copy:v1",
    ]

    with err.open("wb") as stderr:
        launcher = subprocess.run(
            [sys.executable, "-c", LAUNCHER, str(report), *command],
            env=hangard_env(tmp_authfile),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            timeout=120,
            check=False,
        )
    assert launcher.returncode == 0, err.read_text()
    measured = json.loads(report.read_text())

    assert measured["exit_code"] == 0, err.read_text()
    assert measured["maxrss_kib"] < RSS_LIMIT_KIB, f"peak RSS {measured['maxrss_kib']} KiB"
    assert plain_registry2.blob_path(big.layer_digest).stat().st_size == CHUNKED_BLOB_SIZE
    assert images.get_manifest_raw(plain_registry2, "big/copy", "v1") == big.manifest
    assert plain_registry2.count_requests("PATCH", r"/blobs/uploads/", 202) >= 38
