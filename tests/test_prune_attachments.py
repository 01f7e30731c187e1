"""Pruning an image takes the attachments hangard wrote with it, and
nothing else (real registries: distribution 2.8 with deletes enabled;
cosign-shaped artifacts from tests/harness/attachments.py; skopeo confirms
what remains).

The attachment tags hangard writes (cosign ``.sig``/``.att``/``.sbom``, and
the referrers fallback index it creates or merges) are owned, linked to the
image they were copied with; an image leaving the selection takes them
along, unless a kept tag holds the same image. They do not count toward
``prune_max``.
"""

from __future__ import annotations

import json
from pathlib import Path

from hangard.core.cosign import CosignSuffix, cosign_tag, referrers_fallback_tag
from hangard.core.prune import ATTACHMENT_CAUSE
from hangard.sync import OwnershipStore
from hangard.sync.ownership import OWNERSHIP_FILE
from tests.conftest import FaultProxyFactory
from tests.harness import attachments as att
from tests.harness import images, skopeo
from tests.harness.images import Image
from tests.harness.registry import Registry
from tests.helpers_cli import Hangard
from tests.test_prune_sync import PATTERN, REPO, mirror_tags, owned_tags, sync, write_config

SIG, ATT, SBOM = CosignSuffix.SIGNATURE, CosignSuffix.ATTESTATION, CosignSuffix.SBOM


def attached_to(hangard: Hangard, tag: str) -> frozenset[str]:
    store = OwnershipStore.open(hangard.state_dir / OWNERSHIP_FILE)
    try:
        (row,) = [o for o in store.owned("m") if o.tag == tag]
        return row.attached_to
    finally:
        store.close()


def _signed_images(src: Registry) -> tuple[images.Image, images.Image, images.Index, Image]:
    """1.0 (A): signed, attested, and an SBOM referrer behind the fallback
    tag; 1.1 and 1.2: one signed image (B) under two tags; 1.3: an index (C)
    signed as a whole and per child. Returns A, B, C and B's signature."""
    a = images.push_oci_image(src, REPO, "1.0", seed=110)
    att.push_cosign(src, REPO, a.digest, SIG, 1)
    att.push_cosign(src, REPO, a.digest, ATT, 2)
    sbom = att.referrer(a, att.SBOM_TYPE, seed=3)
    att.push_referrers(src, REPO, a.digest, [(sbom, att.SBOM_TYPE)])
    b = images.build_image(111, oci=True)
    images.push_image(src, REPO, b, "1.1")
    images.push_image(src, REPO, b, "1.2")
    b_sig = att.push_cosign(src, REPO, b.digest, SIG, 4)
    c = images.push_oci_index(src, REPO, "1.3", seed=112)
    att.push_cosign(src, REPO, c.digest, SIG, 5)
    for n, child in enumerate(c.children):
        att.push_cosign(src, REPO, child.digest, SIG, 10 + n)
    return a, b, c, b_sig


def test_a_pruned_image_takes_its_attachments_and_a_kept_one_keeps_its_own(
    tmp_path: Path, hangard: Hangard, plain_registry: Registry, plain_registry2: Registry
) -> None:
    src, dst = plain_registry, plain_registry2
    mirror = f"mirror/{REPO}"
    a, b, c, b_sig = _signed_images(src)

    config = write_config(tmp_path / "h.yaml", src, dst, PATTERN, target={"prune": True})
    first = sync(hangard, config)
    assert first.code == 0, first.out + first.err
    a_tags = [
        cosign_tag(a.digest, SIG),
        cosign_tag(a.digest, ATT),
        referrers_fallback_tag(a.digest),
    ]
    c_tags = [cosign_tag(d, SIG) for d in (c.digest, *(x.digest for x in c.children))]
    written = sorted(["1.0", "1.1", "1.2", "1.3", *a_tags, cosign_tag(b.digest, SIG), *c_tags])
    assert mirror_tags(dst) == written
    assert owned_tags(hangard) == written  # every attachment tag hangard wrote is owned
    assert attached_to(hangard, c_tags[1]) == {c.digest}  # a child's, with its index
    assert attached_to(hangard, a_tags[2]) == {a.digest}  # the fallback index hangard wrote
    # someone else's SBOM of 1.0 on the mirror: not hangard's, never deleted;
    # and their tag on one child of 1.3: that child's signature must stay
    theirs = cosign_tag(a.digest, SBOM)
    att.push_cosign(dst, mirror, a.digest, SBOM, 9)
    images.push_image(dst, mirror, c.children[1], "theirs-child")
    foreign = sorted([theirs, "theirs-child"])

    # only 1.2 stays selected: 3 image tags go, with 7 attachments (not counted)
    write_config(config, src, dst, {"include": [r"1\.2"]}, target={"prune": True, "prune_max": 2})
    refused = sync(hangard, config)
    assert refused.code == 1
    assert "3 tags would be deleted (attachments not counted), more than prune_max of 2" in (
        refused.out
    )
    assert mirror_tags(dst) == sorted([*written, *foreign])  # nothing deleted, attachments neither

    write_config(config, src, dst, {"include": [r"1\.2"]}, target={"prune": True, "prune_max": 3})
    plan = json.loads(hangard("plan", "-o", "json", str(config)).out)
    deletes = {a["tag"]: a["cause"] for a in plan["actions"] if a["action"] == "delete"}
    expected = {"1.0", "1.1", "1.3", *a_tags, *c_tags}
    assert set(deletes) == expected  # not 1.2's signature: 1.2 holds that image
    assert {t for t, cause in deletes.items() if cause == ATTACHMENT_CAUSE} == {*a_tags, *c_tags}
    text = hangard("plan", str(config)).out
    assert f"{dst.host}/{mirror}:{a_tags[0]}  [m]  delete ({ATTACHMENT_CAUSE})" in text

    done = sync(hangard, config)
    assert done.code == 0, done.out + done.err
    held = c_tags[2]  # the signature of the child "theirs-child" holds
    for tag in [*a_tags, *c_tags]:
        if tag != held:
            assert f"PRUNE {dst.host}/{mirror}:{tag} [m]: deleted" in done.out
    assert f"PRUNE {dst.host}/{mirror}:{held} [m]: kept: its image is still tagged" in done.out
    # 1.1 shares 1.2's manifest (distribution deletes by digest only): kept
    assert f"PRUNE {dst.host}/{mirror}:1.1 [m]: kept: other tags share its manifest" in done.out
    kept_sig = cosign_tag(b.digest, SIG)
    assert mirror_tags(dst) == sorted(["1.1", "1.2", kept_sig, held, *foreign])
    assert skopeo.inspect_raw(dst, mirror, kept_sig) == b_sig.manifest
    assert owned_tags(hangard) == sorted(["1.1", "1.2", kept_sig, held])


def test_an_image_gone_from_the_target_still_takes_its_attachments_and_the_steady_state_is_free(
    tmp_path: Path, hangard: Hangard, plain_registry: Registry, plain_registry2: Registry
) -> None:
    src, dst = plain_registry, plain_registry2
    mirror = f"mirror/{REPO}"
    d = images.push_oci_image(src, REPO, "1.0", seed=120)
    e = images.push_oci_image(src, REPO, "1.1", seed=121)
    for n, image in enumerate((d, e)):
        att.push_cosign(src, REPO, image.digest, SIG, n)
    config = write_config(tmp_path / "h.yaml", src, dst, PATTERN, target={"prune": True})
    assert sync(hangard, config).code == 0
    sigs = [cosign_tag(d.digest, SIG), cosign_tag(e.digest, SIG)]
    assert owned_tags(hangard) == sorted(["1.0", "1.1", *sigs])

    # owned attachments cost the steady state nothing: no tag list, no DELETE
    seen = len(dst.access_log())
    assert sync(hangard, config).code == 0
    sent = dst.access_log()[seen:]
    assert [x for x in sent if x.method == "DELETE" or "/tags/list" in x.path] == []

    # someone deletes 1.0 on the mirror; its signature is left behind
    images.delete_manifest(dst, mirror, d.digest)
    write_config(config, src, dst, {"include": [r"1\.1"]}, target={"prune": True})
    plan = hangard("plan", str(config))
    assert f"{dst.host}/{mirror}:{sigs[0]}  [m]  delete ({ATTACHMENT_CAUSE})" in plan.out
    assert ":1.0  [m]" not in plan.out  # the image tag is gone: nothing to delete
    done = sync(hangard, config)
    assert done.code == 0, done.out + done.err
    assert mirror_tags(dst) == sorted(["1.1", sigs[1]])
    assert owned_tags(hangard) == sorted(["1.1", sigs[1]])


def test_a_failed_attachment_deletion_is_retried_next_cycle(
    tmp_path: Path,
    hangard: Hangard,
    plain_registry: Registry,
    plain_registry2: Registry,
    fault_proxy: FaultProxyFactory,
) -> None:
    """The image's row outlives its deletion while an attachment of it
    could not be deleted, so the next cycle tries the attachment again
    (a fault proxy refuses that one DELETE; the registry is real)."""
    src, dst = plain_registry, plain_registry2
    proxy = fault_proxy(dst)
    d = images.push_oci_image(src, REPO, "1.0", seed=140)
    images.push_oci_image(src, REPO, "1.1", seed=141)
    att.push_cosign(src, REPO, d.digest, SIG, 1)
    config = write_config(tmp_path / "h.yaml", src, proxy, PATTERN, target={"prune": True})
    assert sync(hangard, config).code == 0
    sig = cosign_tag(d.digest, SIG)
    sig_digest = images.sha256_digest(images.get_manifest_raw(dst, f"mirror/{REPO}", sig))
    denied = {
        "errors": [{"code": "DENIED", "message": "requested access to the resource is denied"}]
    }
    proxy.fail(rf"/manifests/{sig_digest}$", 403, method="DELETE", times=None, body=denied)

    write_config(config, src, proxy, {"include": [r"1\.1"]}, target={"prune": True})
    failed = sync(hangard, config)
    assert failed.code == 1
    assert f"FAILED delete {proxy.host}/mirror/{REPO}:{sig} [m]" in failed.out
    assert mirror_tags(dst) == sorted(["1.1", sig])  # the image went, its signature not
    assert owned_tags(hangard) == sorted(["1.0", "1.1", sig])  # 1.0's row kept for the retry

    proxy.faults.clear()
    plan = hangard("plan", str(config))
    assert f"{proxy.host}/mirror/{REPO}:{sig}  [m]  delete ({ATTACHMENT_CAUSE})" in plan.out
    retried = sync(hangard, config)
    assert retried.code == 0, retried.out + retried.err
    assert mirror_tags(dst) == ["1.1"]
    assert owned_tags(hangard) == ["1.1"]
