"""``hangard copy`` takes an image's attachments along (real registries;
skopeo checks what arrived)."""

from __future__ import annotations

import json
from pathlib import Path

from hangard.core.cosign import CosignSuffix, cosign_tag, referrers_fallback_tag
from tests.harness import attachments as att
from tests.harness import images, skopeo
from tests.harness.registry import Registry
from tests.helpers_cli import Hangard

PLAIN = ["--src-plain-http", "--dest-plain-http"]


def _ref(registry: Registry, repo: str, tag: str = "v1") -> str:
    return f"docker://{registry.host}/{repo}:{tag}"


def test_copy_takes_signatures_per_child_and_referrers(
    plain_registry: Registry, plain_registry2: Registry, hangard: Hangard
) -> None:
    """An index signed per child, with an SBOM referrer behind the fallback
    tag: all of it arrives, byte for byte; --no-attachments copies the
    image alone."""
    src, dst = plain_registry, plain_registry2
    index = images.push_oci_index(src, "lib/multi", "v1", seed=3)
    sigs = {
        c.digest: att.push_cosign(src, "lib/multi", c.digest, CosignSuffix.SIGNATURE, n)
        for n, c in enumerate(index.children)
    }
    sbom = att.referrer(index, att.SBOM_TYPE, seed=4)
    att.push_referrers(src, "lib/multi", index.digest, [(sbom, att.SBOM_TYPE)])

    run = hangard("copy", *PLAIN, _ref(src, "lib/multi"), _ref(dst, "m/multi"))

    assert run.code == 0, run.err
    assert "attachments: 4 copied" in run.out, run.out
    for digest, sig in sigs.items():
        got = skopeo.inspect_raw(dst, "m/multi", cosign_tag(digest, CosignSuffix.SIGNATURE))
        assert got == sig.manifest
    assert skopeo.inspect_raw(dst, "m/multi", sbom.digest) == sbom.manifest
    fallback = json.loads(skopeo.inspect_raw(dst, "m/multi", referrers_fallback_tag(index.digest)))
    assert [m["digest"] for m in fallback["manifests"]] == [sbom.digest]

    alone = hangard(
        "copy",
        "--no-attachments",
        "-o",
        "json",
        *PLAIN,
        _ref(src, "lib/multi"),
        _ref(dst, "n/multi"),
    )
    assert alone.code == 0, alone.err
    assert "attachments" not in json.loads(alone.out)
    assert skopeo.list_tags(dst, "n/multi") == ["v1"]


def test_save_carries_attachments_and_load_pushes_them(
    plain_registry: Registry, plain_registry2: Registry, hangard: Hangard, tmp_path: Path
) -> None:
    """``save`` puts the cosign tags and the fallback index beside the image
    in the archive, ``load`` pushes them back; ``--no-attachments`` saves
    the image alone."""
    src, dst = plain_registry, plain_registry2
    image = images.push_oci_image(src, "lib/app", "v1", seed=21)
    sig = att.push_cosign(src, "lib/app", image.digest, CosignSuffix.SIGNATURE, 1)
    sbom = att.referrer(image, att.SBOM_TYPE, seed=2)
    fallback = att.push_referrers(src, "lib/app", image.digest, [(sbom, att.SBOM_TYPE)])
    archive = tmp_path / "out.zip"
    ref = f"{src.host}/lib/app:v1"

    saved = hangard("save", ref, "-o", str(archive), "--plain-http", "--no-progress")
    assert saved.code == 0, saved.err
    loaded = hangard("load", str(archive), "--to", f"{dst.host}/back", "--plain-http")
    assert loaded.code == 0, loaded.err

    sig_tag = cosign_tag(image.digest, CosignSuffix.SIGNATURE)
    assert skopeo.inspect_raw(dst, "back/lib/app", sig_tag) == sig.manifest
    assert skopeo.inspect_raw(dst, "back/lib/app", referrers_fallback_tag(image.digest)) == fallback
    assert skopeo.inspect_raw(dst, "back/lib/app", sbom.digest) == sbom.manifest

    bare = tmp_path / "bare.zip"
    alone = hangard("save", ref, "-o", str(bare), "--plain-http", "--no-attachments")
    assert alone.code == 0, alone.err
    listed = hangard("archive", "ls", str(bare), "-o", "json")
    assert [r["tag"] for r in json.loads(listed.out)["images"]] == ["v1"]
