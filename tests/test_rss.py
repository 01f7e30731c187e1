"""A big blob is streamed, not buffered: peak RSS of a ``hangard copy``
process stays below the size of the blob it moves."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

from tests.harness import images
from tests.harness.authfile import AuthFiles
from tests.harness.registry import Registry
from tests.helpers_cli import hangard_env
from tests.helpers_rss import RSS_LIMIT_KIB, peak_rss

MiB = 1 << 20
BLOB_SIZE = 100 * MiB


@pytest.mark.slow
def test_copy_of_a_100_mib_blob_stays_under_100_mib_rss(
    plain_registry: Registry,
    plain_registry2: Registry,
    tmp_authfile: AuthFiles,
    tmp_path: Path,
) -> None:
    big = images.push_big_image(plain_registry, "big/app", "v1", size=BLOB_SIZE, seed=1)
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

    measured = peak_rss(command, tmp_path, env=hangard_env(tmp_authfile))

    assert measured.exit_code == 0, measured.stderr
    assert measured.maxrss_kib < RSS_LIMIT_KIB, f"peak RSS {measured.maxrss_kib} KiB"
    assert images.blob_exists(plain_registry2, "big/copy", big.layer_digest)
    stored = plain_registry2.blob_path(big.layer_digest)
    assert stored.stat().st_size == BLOB_SIZE
    with stored.open("rb") as f:
        assert "sha256:" + hashlib.file_digest(f, "sha256").hexdigest() == big.layer_digest
    assert images.get_manifest_raw(plain_registry2, "big/copy", "v1") == big.manifest
    assert plain_registry2.count_requests("PUT", r"/blobs/uploads/", 201) == 2  # layer + config
    assert f"copied {plain_registry.host}/big/app:v1" in measured.stdout


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
    command = [
        sys.executable,
        "-c",
        CHUNKED_COPY,
        f"{plain_registry.host}/big/app:v1",
        f"{plain_registry2.host}/big/copy:v1",
    ]

    measured = peak_rss(command, tmp_path, env=hangard_env(tmp_authfile))

    assert measured.exit_code == 0, measured.stderr
    assert measured.maxrss_kib < RSS_LIMIT_KIB, f"peak RSS {measured.maxrss_kib} KiB"
    assert plain_registry2.blob_path(big.layer_digest).stat().st_size == CHUNKED_BLOB_SIZE
    assert images.get_manifest_raw(plain_registry2, "big/copy", "v1") == big.manifest
    assert plain_registry2.count_requests("PATCH", r"/blobs/uploads/", 202) >= 38
