"""Delta archives: ``save --since OLD.zip`` leaves out OLD's layers and
records it; ``load`` of the delta works when the target already has them,
or with ``--base OLD.zip``, and otherwise fails before pushing anything,
naming the missing blobs; ``verify`` of a delta needs its base."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from hangard.core.archive import share_name
from tests.harness import images, skopeo
from tests.harness.registry import Registry
from tests.helpers_cli import Hangard
from tests.helpers_copy import shared_base_images

pytestmark = pytest.mark.usefixtures("tmp_authfile")


def test_delta_save_and_load(
    hangard: Hangard, plain_registry: Registry, plain_registry2: Registry, tmp_path: Path
) -> None:
    src, dst = plain_registry, plain_registry2
    one, two, shared_layer = shared_base_images()  # 2 rebuilt on 1's base layer
    images.push_image(src, "app", one, "1")
    images.push_image(src, "app", two, "2")
    own_layer, config = two.layers[1], two.config

    old, delta = tmp_path / "old.zip", tmp_path / "delta.zip"
    assert hangard("save", f"{src.host}/app:1", "-o", str(old), "--plain-http").code == 0
    saved = hangard(
        "save", f"{src.host}/app:2", "-o", str(delta), "--since", str(old), "--plain-http"
    )
    assert saved.code == 0, saved.err
    with zipfile.ZipFile(delta) as zf:
        names = set(zf.namelist())
        top = json.loads(zf.read("index.json"))
    assert share_name(shared_layer.digest) not in names
    assert share_name(own_layer.digest) in names
    assert share_name(two.digest) in names and share_name(config.digest) in names
    assert top["hangardBase"]["name"] == "old.zip"

    alone = hangard("archive", "verify", str(delta))
    assert alone.code == 2 and "--base old.zip" in alone.err
    assert hangard("archive", "verify", str(delta), "--base", str(old)).code == 0

    refused = hangard("load", str(delta), "--to", dst.host, "--plain-http")
    assert refused.code == 2, refused.err
    assert shared_layer.digest in refused.err and "--base old.zip" in refused.err
    assert dst.count_requests("POST", r"/blobs/uploads/") == 0  # nothing pushed
    assert not images.manifest_exists(dst, "app", "2")

    with_base = hangard("load", str(delta), "--to", dst.host, "--plain-http", "--base", str(old))
    assert with_base.code == 0, with_base.err
    assert skopeo.inspect_raw(dst, "app", "2") == two.manifest

    # a target that already holds the base (it loaded old.zip) needs no --base
    assert hangard("load", str(old), "--to", f"{dst.host}/again", "--plain-http").code == 0
    again = hangard("load", str(delta), "--to", f"{dst.host}/again", "--plain-http")
    assert again.code == 0, again.err
    assert skopeo.inspect_raw(dst, "again/app", "2") == two.manifest
