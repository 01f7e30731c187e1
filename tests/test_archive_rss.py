"""A 1 GiB layer saved into an archive and loaded back out, each in a
``hangard`` subprocess whose peak RSS stays under 100 MiB: both directions
stream (registry → zip entry, zip entry → registry)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.harness import images
from tests.harness.authfile import AuthFiles
from tests.harness.registry import Registry
from tests.helpers_cli import hangard_env
from tests.helpers_rss import RSS_LIMIT_KIB, peak_rss

GiB = 1 << 30


@pytest.mark.slow
def test_a_1_gib_layer_is_saved_and_loaded_under_100_mib_rss(
    plain_registry: Registry, plain_registry2: Registry, tmp_authfile: AuthFiles, tmp_path: Path
) -> None:
    big = images.push_big_image(plain_registry, "big/app", "v1", size=GiB, seed=7)
    archive = tmp_path / "big.zip"
    hangard = [sys.executable, "-m", "hangard"]
    env = hangard_env(tmp_authfile)
    (tmp_path / "save").mkdir()
    (tmp_path / "load").mkdir()

    saved = peak_rss(
        [*hangard, "save", f"{plain_registry.host}/big/app:v1", "-o", str(archive),
         "--plain-http", "--no-progress"],
        tmp_path / "save", env=env,
    )  # fmt: skip
    assert saved.exit_code == 0, saved.stderr
    assert saved.maxrss_kib < RSS_LIMIT_KIB, f"save: peak RSS {saved.maxrss_kib} KiB"
    assert archive.stat().st_size > GiB

    loaded = peak_rss(
        [*hangard, "load", str(archive), "--to", plain_registry2.host, "--plain-http",
         "--no-progress"],
        tmp_path / "load", env=env,
    )  # fmt: skip
    assert loaded.exit_code == 0, loaded.stderr
    assert loaded.maxrss_kib < RSS_LIMIT_KIB, f"load: peak RSS {loaded.maxrss_kib} KiB"
    assert images.get_manifest_raw(plain_registry2, "big/app", "v1") == big.manifest
    assert plain_registry2.blob_path(big.layer_digest).stat().st_size == GiB
