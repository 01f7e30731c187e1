"""Attachments and archives, against real registries (skopeo checks what
arrived): ``sync`` into a ``hangar-archive:`` target carries them (once),
``save`` keeps referrers that only a referrers API lists under their
fallback tag, and ``load`` merges a fallback index into the target's
instead of replacing it (or, where the target has the referrers API,
pushes the referrers alone). The referrers API is a fake in front of a
real registry (:class:`tests.harness.referrers.FakeReferrers`): no
registry here has one."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from hangard.core.cosign import CosignSuffix, cosign_tag, referrers_fallback_tag
from tests.harness import attachments as att
from tests.harness import images, skopeo
from tests.harness.referrers import FakeReferrers
from tests.harness.registry import Registry
from tests.helpers_cli import Hangard
from tests.test_archive_target import archived, config

OTHER_TYPE = "application/vnd.example.other.v1+json"
BUNDLE_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"


def _digest(raw: bytes) -> str:
    return f"sha256:{hashlib.sha256(raw).hexdigest()}"


def _sync(hangard: Hangard, path: Path, *extra: str) -> str:
    run = hangard("sync", "--once", "--no-progress", *extra, str(path))
    assert run.code == 0, run.out + run.err
    return run.out.splitlines()[-1]


def test_sync_into_an_archive_target_carries_attachments_once(
    hangard: Hangard, plain_registry: Registry, plain_registry2: Registry, tmp_path: Path
) -> None:
    """The cosign tag and the fallback index go into the archive beside
    the image; a second sync writes nothing; a new signature at the source
    is copied by the next one; ``load`` pushes it all back byte for byte;
    ``--no-attachments`` leaves them out."""
    src, dst = plain_registry, plain_registry2
    image = images.push_oci_image(src, "lib/app", "v1", seed=71)
    sig = att.push_cosign(src, "lib/app", image.digest, CosignSuffix.SIGNATURE, 1)
    sbom = att.referrer(image, att.SBOM_TYPE, seed=72)
    fallback = att.push_referrers(src, "lib/app", image.digest, [(sbom, att.SBOM_TYPE)])
    archive = tmp_path / "mirror.zip"
    path = config(
        tmp_path / "hangard.yaml", src, archive, [{"source": f"{src.host}/lib/app", "tags": ["v1"]}]
    )
    name, sig_tag = f"{src.host}/lib/app", cosign_tag(image.digest, CosignSuffix.SIGNATURE)
    fallback_tag = referrers_fallback_tag(image.digest)

    assert _sync(hangard, path).startswith("sync: 1 copied, 0 in sync, 0 failed")
    assert archived(hangard, archive) == {
        f"{name}:v1": image.digest,
        f"{name}:{sig_tag}": sig.digest,
        f"{name}:{fallback_tag}": _digest(fallback),
    }
    before = archive.read_bytes()
    assert _sync(hangard, path).startswith("sync: 0 copied, 1 in sync, 0 failed")
    assert archive.read_bytes() == before  # nothing recopied, not even rewritten

    resigned = att.push_cosign(src, "lib/app", image.digest, CosignSuffix.SIGNATURE, 1, 2)
    planned = hangard("plan", str(path))
    assert "copy (attachments: 1 missing)" in planned.out, planned.out
    assert _sync(hangard, path).startswith("sync: 1 copied, 0 in sync, 0 failed")
    assert archived(hangard, archive)[f"{name}:{sig_tag}"] == resigned.digest

    loaded = hangard("load", str(archive), "--to", f"{dst.host}/back", "--plain-http")
    assert loaded.code == 0, loaded.err
    assert skopeo.inspect_raw(dst, "back/lib/app", "v1") == image.manifest
    assert skopeo.inspect_raw(dst, "back/lib/app", sig_tag) == resigned.manifest
    assert skopeo.inspect_raw(dst, "back/lib/app", sbom.digest) == sbom.manifest
    assert skopeo.inspect_raw(dst, "back/lib/app", fallback_tag) == fallback

    bare = tmp_path / "bare.zip"
    bare_path = config(
        tmp_path / "bare.yaml", src, bare, [{"source": f"{src.host}/lib/app", "tags": ["v1"]}]
    )
    _sync(hangard, bare_path, "--no-attachments")
    assert archived(hangard, bare) == {f"{name}:v1": image.digest}


def test_sync_into_an_archive_keeps_referrers_only_an_api_lists(
    hangard: Hangard, plain_registry: Registry, tmp_path: Path
) -> None:
    """A source whose referrers only its API lists: the archive gets the
    fallback tag (an index listing them, the referrer beside it), and a
    second sync finds it there."""
    src = plain_registry
    image = images.push_oci_image(src, "lib/app", "v1", seed=75)
    sbom = att.referrer(image, att.SBOM_TYPE, seed=76)
    images.push_image(src, "lib/app", sbom)
    archive = tmp_path / "mirror.zip"
    with FakeReferrers(src.host) as source:
        source.referrers[("lib/app", image.digest)] = [sbom.descriptor(artifactType=att.SBOM_TYPE)]
        entry = {"source": f"{source.host}/lib/app", "tags": ["v1"]}
        path = config(tmp_path / "hangard.yaml", source, archive, [entry])

        assert _sync(hangard, path).startswith("sync: 1 copied, 0 in sync, 0 failed")
        before = archive.read_bytes()
        assert _sync(hangard, path).startswith("sync: 0 copied, 1 in sync, 0 failed")
        assert archive.read_bytes() == before
        name = f"{source.host}/lib/app"

    held = archived(hangard, archive)
    assert set(held) == {f"{name}:v1", f"{name}:{referrers_fallback_tag(image.digest)}"}
    assert hangard("archive", "verify", str(archive)).code == 0


def test_save_keeps_api_referrers_and_load_merges_the_fallback_index(
    hangard: Hangard, plain_registry: Registry, plain_registry2: Registry, tmp_path: Path
) -> None:
    """``save`` from a source with the referrers API stores its referrers
    under the fallback tag; ``load`` pushes them unchanged and merges the
    target's fallback index (its own entry kept); into a target with the
    referrers API, the referrers alone are pushed (no fallback tag)."""
    src, dst = plain_registry, plain_registry2
    image = images.push_oci_image(src, "lib/app", "v1", seed=81)
    sbom = att.referrer(image, att.SBOM_TYPE, seed=82)
    images.push_image(src, "lib/app", sbom)
    archive = tmp_path / "out.zip"
    fallback_tag = referrers_fallback_tag(image.digest)
    with FakeReferrers(src.host) as source:
        source.referrers[("lib/app", image.digest)] = [sbom.descriptor(artifactType=att.SBOM_TYPE)]
        ref = f"{source.host}/lib/app:v1"
        saved = hangard("save", ref, "-o", str(archive), "--plain-http", "--no-progress")
        assert saved.code == 0, saved.err
        name = f"{source.host}/lib/app"
    assert set(archived(hangard, archive)) == {f"{name}:v1", f"{name}:{fallback_tag}"}

    other = att.referrer(image, OTHER_TYPE, seed=83)  # the target lists one already
    att.push_referrers(dst, "back/lib/app", image.digest, [(other, OTHER_TYPE)])
    for _ in range(2):  # the second load finds everything there
        loaded = hangard("load", str(archive), "--to", f"{dst.host}/back", "--plain-http")
        assert loaded.code == 0, loaded.err
    assert f"in-sync {name}:{fallback_tag}" in loaded.out, loaded.out
    assert skopeo.inspect_raw(dst, "back/lib/app", "v1") == image.manifest
    assert skopeo.inspect_raw(dst, "back/lib/app", sbom.digest) == sbom.manifest
    merged = json.loads(skopeo.inspect_raw(dst, "back/lib/app", fallback_tag))
    assert [(m["digest"], m.get("artifactType")) for m in merged["manifests"]] == [
        (other.digest, OTHER_TYPE),
        (sbom.digest, att.SBOM_TYPE),
    ]

    with FakeReferrers(dst.host) as target:
        loaded = hangard("load", str(archive), "--to", f"{target.host}/api", "--plain-http")
        assert loaded.code == 0, loaded.err
        assert [e["digest"] for e in target.referrers[("api/lib/app", image.digest)]] == [
            sbom.digest
        ]
    assert skopeo.inspect_raw(dst, "api/lib/app", sbom.digest) == sbom.manifest
    assert fallback_tag not in skopeo.list_tags(dst, "api/lib/app")


def test_a_filtered_fallback_index_is_saved_as_an_index_of_the_rest(
    hangard: Hangard, plain_registry: Registry, tmp_path: Path
) -> None:
    """``--remove-signatures`` into an archive target: the cosign ``.sig``
    stays behind, the source's fallback index is saved without its sigstore
    bundle (the SBOM referrer unchanged), and the next sync writes nothing."""
    src = plain_registry
    image = images.push_oci_image(src, "lib/app", "v1", seed=85)
    att.push_cosign(src, "lib/app", image.digest, CosignSuffix.SIGNATURE, 1)
    sbom = att.referrer(image, att.SBOM_TYPE, seed=86)
    bundle = att.referrer(image, BUNDLE_TYPE, seed=87)
    entries = [(sbom, att.SBOM_TYPE), (bundle, BUNDLE_TYPE)]
    att.push_referrers(src, "lib/app", image.digest, entries)
    archive = tmp_path / "mirror.zip"
    entry = {"source": f"{src.host}/lib/app", "tags": ["v1"]}
    path = config(tmp_path / "hangard.yaml", src, archive, [entry])
    name, fallback_tag = f"{src.host}/lib/app", referrers_fallback_tag(image.digest)

    assert _sync(hangard, path, "--remove-signatures").startswith("sync: 1 copied, 0 in sync")
    assert set(archived(hangard, archive)) == {f"{name}:v1", f"{name}:{fallback_tag}"}
    raw = hangard("inspect", "--raw", f"hangar-archive:{archive}:{name}:{fallback_tag}")
    assert raw.code == 0, raw.err
    assert [m["digest"] for m in json.loads(raw.out)["manifests"]] == [sbom.digest]
    sbom_raw = hangard("inspect", "--raw", f"hangar-archive:{archive}:{name}@{sbom.digest}")
    assert sbom_raw.out.encode() == sbom.manifest
    before = archive.read_bytes()
    assert _sync(hangard, path, "--remove-signatures").startswith("sync: 0 copied, 1 in sync")
    assert archive.read_bytes() == before


def test_copy_into_an_archive_saves_the_attachments_beside_the_image(
    hangard: Hangard, plain_registry: Registry, tmp_path: Path
) -> None:
    """``hangard copy docker://… hangar-archive:FILE`` keeps the signature
    under its tag; ``--no-attachments`` copies the image alone."""
    src = plain_registry
    image = images.push_oci_image(src, "lib/app", "v1", seed=88)
    sig = att.push_cosign(src, "lib/app", image.digest, CosignSuffix.SIGNATURE, 1)
    archive, bare = tmp_path / "one.zip", tmp_path / "bare.zip"
    ref, name = f"docker://{src.host}/lib/app:v1", f"{src.host}/lib/app"

    run = hangard("copy", "--src-plain-http", ref, f"hangar-archive:{archive}")
    alone = hangard("copy", "--src-plain-http", "--no-attachments", ref, f"hangar-archive:{bare}")

    assert run.code == 0 and alone.code == 0, run.err + alone.err
    sig_tag = cosign_tag(image.digest, CosignSuffix.SIGNATURE)
    assert f"attachments: 1 copied: {sig_tag}" in run.out, run.out
    assert archived(hangard, archive) == {
        f"{name}:v1": image.digest,
        f"{name}:{sig_tag}": sig.digest,
    }
    assert archived(hangard, bare) == {f"{name}:v1": image.digest}


def test_archive_sync_adds_attachments_unless_told_not_to(
    hangard: Hangard, plain_registry: Registry, tmp_path: Path
) -> None:
    """``archive sync`` (save --append) adds the image's signature beside it;
    with ``--no-attachments`` the image alone, with ``--remove-signatures``
    the SBOM but not the signature."""
    src = plain_registry
    image = images.push_oci_image(src, "lib/add", "v1", seed=91)
    sig = att.push_cosign(src, "lib/add", image.digest, CosignSuffix.SIGNATURE, 1)
    sbom = att.push_cosign(src, "lib/add", image.digest, CosignSuffix.SBOM, 2)
    ref, name = f"{src.host}/lib/add:v1", f"{src.host}/lib/add"
    sig_tag = cosign_tag(image.digest, CosignSuffix.SIGNATURE)
    sbom_tag = cosign_tag(image.digest, CosignSuffix.SBOM)
    found: dict[tuple[str, ...], dict[str, str]] = {}
    for flags in ((), ("--no-attachments",), ("--remove-signatures",)):
        archive = tmp_path / f"add{len(found)}.zip"
        run = hangard("archive", "sync", "--plain-http", *flags, str(archive), ref)
        assert run.code == 0, run.err + run.out
        found[flags] = archived(hangard, archive)
    whole = {f"{name}:v1": image.digest}
    assert found[()] == {
        **whole,
        f"{name}:{sig_tag}": sig.digest,
        f"{name}:{sbom_tag}": sbom.digest,
    }
    assert found[("--no-attachments",)] == whole
    assert found[("--remove-signatures",)] == {**whole, f"{name}:{sbom_tag}": sbom.digest}
