"""``hangard copy`` takes an image's attachments along (real registries;
skopeo checks what arrived)."""

from __future__ import annotations

import json

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
