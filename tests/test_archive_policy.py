"""The signature policy on the archive paths, against real registries:
``save`` verifies at the registry source before writing, ``sync`` into a
``hangar-archive:`` target refuses as into a registry, and ``load``
verifies with the signatures the archive holds (the ``.sig`` tags ``save``
keeps beside each image): a refused image is not loaded, fails with reason
``signature_missing`` / ``signature_invalid``, and the others load.
Signatures are made by :mod:`tests.helpers_sign`; skopeo checks what
arrived."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from hangard.archive.destinations import LoadItem, with_requirements
from hangard.config import load_config
from hangard.core.cosign import CosignSuffix, cosign_tag
from hangard.core.policy import SigstoreSigned
from hangard.core.reference import parse_reference
from tests.harness import images, skopeo
from tests.harness.registry import Registry
from tests.helpers_cli import Hangard
from tests.helpers_sign import Signer, sign_image
from tests.test_archive_target import archived, config
from tests.test_signature_policy import failures


def _policy(tmp_path: Path, key: Path) -> Path:
    """Every image needs a signature by ``key`` naming its repository."""
    doc = {
        "default": [
            {
                "type": "sigstoreSigned",
                "keyPath": str(key),
                "signedIdentity": {"type": "matchRepository"},
            }
        ]
    }
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(doc))
    return path


def _images(src: Registry, trusted: Signer, stranger: Signer) -> dict[str, images.Image]:
    """``app/good`` signed by ``trusted``, ``app/wrong`` by ``stranger``,
    ``app/unsigned`` not at all."""
    pushed = {
        repo: images.push_oci_image(src, repo, "v1", seed=seed)
        for seed, repo in enumerate(("app/good", "app/wrong", "app/unsigned"), start=91)
    }
    for repo, signer in (("app/good", trusted), ("app/wrong", stranger)):
        sign_image(src, repo, pushed[repo].digest, signer, identity=f"{src.host}/{repo}")
    return pushed


def _failed_lines(err: str) -> dict[str, str]:
    """``FAILED NAME…: … [reason]`` lines by repository (``app/x``)."""
    out = {}
    for line in err.splitlines():
        if line.startswith("FAILED "):
            name = line.split()[1].split("/", 1)[1].split(":")[0]
            out[name] = line.rsplit("[", 1)[-1].rstrip("]")
    return out


def test_save_verifies_at_the_source_before_writing(
    hangard: Hangard, plain_registry: Registry, tmp_path: Path
) -> None:
    """``--policy`` refuses the unsigned and wrongly signed images before
    a byte of theirs is read; ``save --config`` applies ``verify.keys``;
    ``--insecure-policy`` saves them all."""
    src = plain_registry
    trusted, stranger = Signer("ec"), Signer("ed25519")
    pushed = _images(src, trusted, stranger)
    key = trusted.write_public(tmp_path / "cosign.pub")
    refs = [f"{src.host}/{repo}:v1" for repo in pushed]
    flags = ["--plain-http", "--no-progress"]

    refused = hangard(
        "save",
        *refs,
        "-o",
        str(tmp_path / "a.zip"),
        *flags,
        "--policy",
        str(_policy(tmp_path, key)),
    )

    assert refused.code == 1, refused.err
    assert _failed_lines(refused.err) == {
        "app/wrong": "signature_invalid",
        "app/unsigned": "signature_missing",
    }
    for repo in ("app/wrong", "app/unsigned"):  # refused before anything was read
        layer = pushed[repo].layers[0].digest
        assert not [e for e in src.access_log() if e.method == "GET" and layer in e.path]
    assert not (tmp_path / "a.zip").exists()

    entries = [{"source": f"{src.host}/{repo}", "tags": ["v1"]} for repo in pushed]
    path = config(tmp_path / "hangard.yaml", src, tmp_path / "unused.zip", entries)
    doc = yaml.safe_load(path.read_text())
    doc["defaults"]["verify"] = {"keys": [str(key)]}
    path.write_text(yaml.safe_dump(doc))
    by_config = hangard("save", "--config", str(path), "-o", str(tmp_path / "b.zip"), *flags)
    assert by_config.code == 1
    assert _failed_lines(by_config.err) == {
        "app/wrong": "signature_invalid",
        "app/unsigned": "signature_missing",
    }

    good = tmp_path / "good.zip"
    only = hangard(
        "save", refs[0], "-o", str(good), *flags, "--policy", str(tmp_path / "policy.json")
    )
    assert only.code == 0, only.err
    sig = cosign_tag(pushed["app/good"].digest, CosignSuffix.SIGNATURE)
    assert set(archived(hangard, good)) == {f"{src.host}/app/good:v1", f"{src.host}/app/good:{sig}"}

    forced = hangard("save", *refs, "-o", str(tmp_path / "c.zip"), *flags, "--insecure-policy")
    assert forced.code == 0, forced.err


def test_load_verifies_with_the_signatures_in_the_archive(
    hangard: Hangard, plain_registry: Registry, plain_registry2: Registry, tmp_path: Path
) -> None:
    """An archive saved without a policy: ``load --policy`` loads the image
    whose saved signature verifies and refuses the others (each reported,
    with its reason); ``--insecure-policy`` loads them all."""
    src, dst = plain_registry, plain_registry2
    trusted, stranger = Signer("ec"), Signer("rsa")
    pushed = _images(src, trusted, stranger)
    policy = _policy(tmp_path, trusted.write_public(tmp_path / "cosign.pub"))
    archive = tmp_path / "all.zip"
    refs = [f"{src.host}/{repo}:v1" for repo in pushed]
    saved = hangard("save", *refs, "-o", str(archive), "--plain-http", "--no-progress")
    assert saved.code == 0, saved.err
    before = len(src.access_log())

    loaded = hangard(
        "load", str(archive), "--to", f"{dst.host}/m", "--plain-http", "--policy", str(policy)
    )

    assert loaded.code == 1, loaded.err
    assert _failed_lines(loaded.err) == {
        "app/wrong": "signature_invalid",
        "app/unsigned": "signature_missing",
    }
    assert skopeo.inspect_raw(dst, "m/app/good", "v1") == pushed["app/good"].manifest
    for repo in ("app/wrong", "app/unsigned"):
        assert not images.manifest_exists(dst, f"m/{repo}", "v1"), repo
    sigs = {r: cosign_tag(i.digest, CosignSuffix.SIGNATURE) for r, i in pushed.items()}
    assert images.manifest_exists(dst, "m/app/good", sigs["app/good"])
    # the refused image's signature stays behind with it
    assert not images.manifest_exists(dst, "m/app/wrong", sigs["app/wrong"])
    assert f"skipped {src.host}/app/wrong:{sigs['app/wrong']}: attached to an image" in loaded.out
    assert len(src.access_log()) == before  # the signatures came from the archive

    forced = hangard(
        "load", str(archive), "--to", f"{dst.host}/m", "--plain-http", "--insecure-policy"
    )
    assert forced.code == 0, forced.err
    for repo, image in pushed.items():
        assert skopeo.inspect_raw(dst, f"m/{repo}", "v1") == image.manifest


def test_sync_into_an_archive_target_applies_verify_keys(
    hangard: Hangard, plain_registry: Registry, tmp_path: Path
) -> None:
    """A refused item is not written to the archive target and fails with
    its reason; the signed one is archived with its signature."""
    src = plain_registry
    trusted, stranger = Signer("ec"), Signer("ed25519")
    pushed = _images(src, trusted, stranger)
    key = trusted.write_public(tmp_path / "cosign.pub")
    archive = tmp_path / "mirror.zip"
    entries = [{"source": f"{src.host}/{repo}", "tags": ["v1"]} for repo in pushed]
    path = config(tmp_path / "hangard.yaml", src, archive, entries)
    doc = yaml.safe_load(path.read_text())
    doc["defaults"]["verify"] = {"keys": [str(key)]}
    path.write_text(yaml.safe_dump(doc))

    run = hangard("sync", "--once", "--no-progress", str(path))

    assert run.code == 1, run.err
    assert {repo: e["reason"] for repo, e in failures(run).items()} == {
        "app/wrong": "signature_invalid",
        "app/unsigned": "signature_missing",
    }
    sig = cosign_tag(pushed["app/good"].digest, CosignSuffix.SIGNATURE)
    assert archived(hangard, archive) == {
        f"{src.host}/app/good:v1": pushed["app/good"].digest,
        f"{src.host}/app/good:{sig}": images.sha256_digest(
            images.get_manifest_raw(src, "app/good", sig)
        ),
    }


def test_load_with_a_config_takes_each_images_entry_keys(tmp_path: Path) -> None:
    """``load --config``: an archived image needs the ``verify.keys`` of the
    entry whose source names it, else the defaults'; an attachment tag
    needs nothing itself."""
    team, ci = Signer("ec"), Signer("ed25519")
    team.write_public(tmp_path / "team.pub")
    ci.write_public(tmp_path / "ci.pub")
    doc = {
        "targets": {"m": {"registry": "127.0.0.1:5999"}},
        "defaults": {"targets": ["m"], "verify": {"keys": ["ci.pub"]}},
        "images": [
            {"source": "127.0.0.1:5000/app/team", "tags": ["v1"], "verify": {"keys": ["team.pub"]}}
        ],
    }
    path = tmp_path / "hangard.yaml"
    path.write_text(yaml.safe_dump(doc))
    state = load_config(path).state
    names = [
        "app/team:v1",
        "app/other:v1",
        f"app/team:{cosign_tag('sha256:' + 'a' * 64, CosignSuffix.SIGNATURE)}",
    ]
    items = [
        LoadItem(parse_reference(f"127.0.0.1:5000/{n}"), parse_reference(f"127.0.0.1:5999/{n}"))
        for n in names
    ]

    team_item, other_item, sig_item = with_requirements(items, state.trust, state)

    def key_names(item: LoadItem) -> list[str]:
        found = [r for r in item.requirements if isinstance(r, SigstoreSigned)]
        return [Path(k.name).name for r in found for k in r.keys]

    assert key_names(team_item) == ["team.pub"]
    assert key_names(other_item) == ["ci.pub"]
    assert sig_item.requirements == ()


def test_a_missing_policy_file_stops_save_and_load_before_any_request(
    hangard: Hangard, plain_registry: Registry, tmp_path: Path
) -> None:
    src = plain_registry
    missing = tmp_path / "containers" / "policy.json"
    before = len(src.access_log())

    save = hangard(
        "save", f"{src.host}/a:1", "-o", str(tmp_path / "a.zip"), "--plain-http",
        "--policy", str(missing),
    )  # fmt: skip
    load = hangard(
        "load", str(tmp_path / "a.zip"), "--to", f"{src.host}/m", "--plain-http",
        "--policy", str(missing),
    )  # fmt: skip

    for run in (save, load):
        assert run.code == 2, run.err
        assert f"cannot read policy file {missing}: No such file or directory" in run.err
        assert "--insecure-policy" in run.err
    assert len(src.access_log()) == before
