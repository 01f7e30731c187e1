"""The signature policy end to end, against real registries: ``sync`` and
``copy`` copy an image only when a cosign signature on it verifies
(``verify.keys`` or a containers ``policy.json``), and report the others
with reason ``signature_missing`` / ``signature_invalid``. Signatures are
made by :mod:`tests.helpers_sign` (no cosign binary) and openssl verifies
them as the registry serves them; skopeo confirms what was copied. (Debian's
skopeo is built with sigstore disabled, so it cannot judge the policy.)"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import generate_latest
from structlog.testing import capture_logs

from hangard.config.trustfiles import TrustOptions
from hangard.core.cosign import SIGNATURE_ANNOTATION, CosignSuffix, cosign_tag
from hangard.core.plan import Observation, SyncItem, make_plan
from hangard.core.policy import SigstoreSigned
from hangard.core.reference import parse_reference
from hangard.core.signature import load_public_key
from hangard.daemon.generations import Generations
from hangard.daemon.history import History
from hangard.daemon.metrics import Metrics
from hangard.errors import ConfigError, Reason
from hangard.registry.client import RegistryClient
from hangard.sync.execution import ItemOutcome, execute
from tests.harness import images, skopeo
from tests.harness.registry import Registry
from tests.helpers_cli import Hangard, Run
from tests.helpers_sign import Signer, push_signature, sign_image, signature_of


def write_config(
    path: Path, src: Registry, dst: Registry, entries: list[dict[str, Any]], **top: Any
) -> Path:
    defaults = {"targets": ["m"], **top.pop("defaults", {})}
    doc = {
        "registries": {src.host: {"tls_verify": False}, dst.host: {"tls_verify": False}},
        "targets": {"m": {"registry": dst.host, "prefix": "mirror"}},
        "defaults": defaults,
        "images": entries,
        **top,
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def failures(run: Run) -> dict[str, dict[str, Any]]:
    """``item failed`` log events by image path (``app/x``)."""
    events = [json.loads(line) for line in run.err.splitlines() if line.startswith("{")]
    return {e["image"].split("/", 1)[1]: e for e in events if e.get("event") == "item failed"}


def entry(src: Registry, repo: str, **extra: Any) -> dict[str, Any]:
    return {"source": f"{src.host}/{repo}", "tags": ["v1"], **extra}


def test_verify_keys_copy_the_signed_image_and_refuse_the_others(
    tmp_path: Path, hangard: Hangard, plain_registry: Registry, plain_registry2: Registry
) -> None:
    src, dst = plain_registry, plain_registry2
    trusted, rsa_key, stranger = Signer("ec"), Signer("rsa"), Signer("ed25519")
    good = images.push_oci_image(src, "app/good", "v1", seed=1)
    by_rsa = images.push_oci_image(src, "app/rsa", "v1", seed=2)
    unsigned = images.push_oci_image(src, "app/unsigned", "v1", seed=3)
    wrong_key = images.push_oci_image(src, "app/wrong", "v1", seed=4)
    elsewhere = images.push_oci_image(src, "app/elsewhere", "v1", seed=5)
    sign_image(src, "app/good", good.digest, trusted)
    sign_image(src, "app/rsa", by_rsa.digest, rsa_key)
    sign_image(src, "app/wrong", wrong_key.digest, stranger)
    # a real signature by the trusted key, but of another image's digest
    push_signature(
        src,
        "app/elsewhere",
        elsewhere.digest,
        [signature_of(trusted, elsewhere.digest, signs=good.digest)],
    )
    keys = [str(trusted.write_public(tmp_path / "cosign.pub")), "rsa.pub"]
    rsa_key.write_public(tmp_path / "rsa.pub")  # relative: to the config file
    config = write_config(
        tmp_path / "hangard.yaml",
        src,
        dst,
        [
            entry(src, r)
            for r in ("app/good", "app/rsa", "app/unsigned", "app/wrong", "app/elsewhere")
        ],
        defaults={"verify": {"keys": keys}},
    )
    failed = tmp_path / "failed.txt"

    run = hangard("sync", "--once", "--no-progress", "--failed-file", str(failed), str(config))

    assert run.code == 1, run.err
    assert run.out.splitlines()[-1].startswith("sync: 2 copied, 0 in sync, 3 failed, 0 skipped")
    for repo, image in (("app/good", good), ("app/rsa", by_rsa)):
        assert skopeo.inspect_raw(dst, f"mirror/{repo}", "v1") == image.manifest
    for repo in ("app/unsigned", "app/wrong", "app/elsewhere"):
        assert not images.manifest_exists(dst, f"mirror/{repo}", "v1"), repo
    found = failures(run)
    assert {r: e["reason"] for r, e in found.items()} == {
        "app/unsigned": "signature_missing",
        "app/wrong": "signature_invalid",
        "app/elsewhere": "signature_invalid",
    }
    assert cosign_tag(unsigned.digest, CosignSuffix.SIGNATURE) in found["app/unsigned"]["message"]
    assert "does not verify with the keys" in found["app/wrong"]["message"]
    assert f"signs {good.digest}, not this image" in found["app/elsewhere"]["message"]
    assert "--insecure-policy" in found["app/wrong"]["hint"]
    listed = failed.read_text()
    assert all(f"app/{name} v1" in listed for name in ("unsigned", "wrong", "elsewhere"))
    assert "app/good" not in listed


def test_an_index_is_verified_by_its_own_digest_even_when_filtered(
    tmp_path: Path, hangard: Hangard, plain_registry: Registry, plain_registry2: Registry
) -> None:
    src, dst = plain_registry, plain_registry2
    signer = Signer("ec")
    index = images.push_oci_index(src, "app/multi", "v1", seed=7)
    signature = sign_image(src, "app/multi", index.digest, signer)
    config = write_config(
        tmp_path / "hangard.yaml",
        src,
        dst,
        [entry(src, "app/multi", platforms=["linux/amd64"])],
        defaults={"verify": {"keys": [str(signer.write_public(tmp_path / "k.pub"))]}},
    )

    seen = len(src.access_log())

    run = hangard("sync", "--once", "--no-progress", str(config))

    assert run.code == 0, run.err
    copied = json.loads(skopeo.inspect_raw(dst, "mirror/app/multi", "v1"))
    assert [m["platform"]["architecture"] for m in copied["manifests"]] == ["amd64"]
    # the check's cost: one manifest GET of the .sig tag, one GET per signature layer
    tag = cosign_tag(index.digest, CosignSuffix.SIGNATURE)
    (layer,) = signature.layers
    checks = [
        (e.method, e.path)
        for e in src.access_log()[seen:]
        if tag in e.path or layer.digest in e.path
    ]
    assert sorted(checks) == [
        ("GET", f"/v2/app/multi/blobs/{layer.digest}"),
        ("GET", f"/v2/app/multi/manifests/{tag}"),
    ]
    # in sync, nothing is checked again
    seen = len(src.access_log())
    again = hangard("sync", "--once", "--no-progress", str(config))
    assert again.code == 0, again.err
    assert not [e for e in src.access_log()[seen:] if tag in e.path]


def test_a_sig_tag_that_is_not_a_signature_manifest_is_signature_invalid(
    tmp_path: Path, hangard: Hangard, plain_registry: Registry, plain_registry2: Registry
) -> None:
    src, dst = plain_registry, plain_registry2
    image = images.push_oci_image(src, "app/odd", "v1", seed=61)
    images.push_oci_index(src, "app/odd", cosign_tag(image.digest, CosignSuffix.SIGNATURE), seed=62)
    signer = Signer()
    config = write_config(
        tmp_path / "hangard.yaml",
        src,
        dst,
        [entry(src, "app/odd")],
        defaults={"verify": {"keys": [str(signer.write_public(tmp_path / "k.pub"))]}},
    )

    run = hangard("sync", "--once", "--no-progress", str(config))

    assert run.code == 1, run.err
    (failed,) = failures(run).values()
    assert failed["reason"] == "signature_invalid"
    assert "is not a cosign signature: not an image manifest" in failed["message"]
    assert not images.manifest_exists(dst, "mirror/app/odd", "v1")


def _policy(tmp_path: Path, src: Registry, key: Path) -> Path:
    """Default reject; ``app/signed`` needs a signature by ``key``;
    ``app/open`` is accepted as is."""
    doc = {
        "default": [{"type": "reject"}],
        "transports": {
            "docker": {
                f"{src.host}/app/signed": [
                    {
                        "type": "sigstoreSigned",
                        "keyPath": str(key),
                        "signedIdentity": {"type": "matchRepository"},
                    }
                ],
                f"{src.host}/app/open": [{"type": "insecureAcceptAnything"}],
            }
        },
    }
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(doc))
    return path


def openssl_verifies(src: Registry, repo: str, digest: str, key: Path, work: Path) -> bool:
    """``openssl dgst -sha256 -verify KEY`` over the first signature layer of
    ``digest``'s cosign manifest, as the registry serves it: an independent
    check that the signatures are cosign's shape (ECDSA P-256 over the
    payload's exact bytes)."""
    tag = cosign_tag(digest, CosignSuffix.SIGNATURE)
    layer = json.loads(images.get_manifest_raw(src, repo, tag))["layers"][0]
    (work / "payload").write_bytes(images.get_blob(src, repo, layer["digest"]))
    signature = base64.b64decode(layer["annotations"][SIGNATURE_ANNOTATION])
    (work / "signature").write_bytes(signature)
    proc = subprocess.run(
        [
            "openssl",
            "dgst",
            "-sha256",
            "-verify",
            str(key),
            "-signature",
            str(work / "signature"),
            str(work / "payload"),
        ],
        capture_output=True,
        check=False,
    )
    return proc.returncode == 0 and b"Verified OK" in proc.stdout


def test_a_policy_json_decides_per_scope(
    tmp_path: Path, hangard: Hangard, plain_registry: Registry, plain_registry2: Registry
) -> None:
    src, dst = plain_registry, plain_registry2
    signer = Signer("ec")
    key = signer.write_public(tmp_path / "cosign.pub")
    signed = images.push_oci_image(src, "app/signed", "v1", seed=11)
    sign_image(src, "app/signed", signed.digest, signer, identity=f"{src.host}/app/signed")
    images.push_oci_image(src, "app/open", "v1", seed=12)
    images.push_oci_image(src, "app/closed", "v1", seed=13)
    policy = _policy(tmp_path, src, key)
    config = write_config(
        tmp_path / "hangard.yaml",
        src,
        dst,
        [entry(src, r) for r in ("app/signed", "app/open", "app/closed")],
        policy=policy.name,  # relative: to the config file
    )

    run = hangard("sync", "--once", "--no-progress", str(config))

    assert run.code == 1, run.err
    assert skopeo.inspect_raw(dst, "mirror/app/signed", "v1") == signed.manifest
    assert images.manifest_exists(dst, "mirror/app/open", "v1")
    (closed,) = failures(run).values()
    assert closed["image"] == f"{src.host}/app/closed" and closed["reason"] == "signature_invalid"
    assert "rejects every image" in closed["message"]
    # openssl, given the key, verifies what hangard accepted, as pulled from the source
    assert openssl_verifies(src, "app/signed", signed.digest, key, tmp_path)

    insecure = hangard("sync", "--once", "--no-progress", "--insecure-policy", str(config))

    assert insecure.code == 0, insecure.err
    assert images.manifest_exists(dst, "mirror/app/closed", "v1")


def test_copy_with_a_policy(
    tmp_path: Path, hangard: Hangard, plain_registry: Registry, plain_registry2: Registry
) -> None:
    src, dst = plain_registry, plain_registry2
    signer = Signer("ed25519")
    signed = images.push_oci_image(src, "app/signed", "v1", seed=21)
    sign_image(src, "app/signed", signed.digest, signer, identity=f"{src.host}/app/signed")
    images.push_oci_image(src, "app/closed", "v1", seed=22)
    policy = _policy(tmp_path, src, signer.write_public(tmp_path / "cosign.pub"))
    flags = ["--src-plain-http", "--dest-plain-http", "--policy", str(policy)]

    good = hangard(
        "copy", *flags, f"docker://{src.host}/app/signed:v1", f"docker://{dst.host}/c/signed"
    )
    refused = hangard(
        "copy", *flags, f"docker://{src.host}/app/closed:v1", f"docker://{dst.host}/c/closed"
    )
    forced = hangard(
        "copy",
        *flags,
        "--insecure-policy",
        f"docker://{src.host}/app/closed:v1",
        f"docker://{dst.host}/c/closed",
    )

    assert good.code == 0, good.err
    assert skopeo.inspect_raw(dst, "c/signed", "v1") == signed.manifest  # the source's tag kept
    assert refused.code == 1 and "rejects every image" in refused.err, refused.err
    assert forced.code == 0, forced.err
    assert images.manifest_exists(dst, "c/closed", "v1")


def test_a_missing_policy_file_is_a_usage_error_naming_it(
    tmp_path: Path, hangard: Hangard, plain_registry: Registry, plain_registry2: Registry
) -> None:
    src, dst = plain_registry, plain_registry2
    config = write_config(tmp_path / "hangard.yaml", src, dst, [entry(src, "app/x")])
    missing = tmp_path / "containers" / "policy.json"
    before = len(src.access_log())

    run = hangard("sync", "--once", "--no-progress", "--policy", str(missing), str(config))
    copy = hangard(
        "copy",
        "--src-plain-http",
        "--policy",
        str(missing),
        f"docker://{src.host}/a:1",
        f"docker://{dst.host}/a:1",
    )

    assert run.code == 2 and copy.code == 2
    for text in (run.err, copy.err):
        assert f"cannot read policy file {missing}: No such file or directory" in text
        assert "--insecure-policy" in text
    assert len(src.access_log()) == before  # nothing was contacted


def test_without_a_policy_no_signature_is_looked_up(
    tmp_path: Path, hangard: Hangard, plain_registry: Registry, plain_registry2: Registry
) -> None:
    src, dst = plain_registry, plain_registry2
    image = images.push_oci_image(src, "app/plain", "v1", seed=31)
    config = write_config(tmp_path / "hangard.yaml", src, dst, [entry(src, "app/plain")])

    run = hangard("sync", "--once", "--no-progress", str(config))

    assert run.code == 0, run.err
    sig = cosign_tag(image.digest, CosignSuffix.SIGNATURE)
    assert not [e for e in src.access_log() if sig in e.path]


async def test_a_refusal_is_recorded_like_any_failure(
    tmp_path: Path, plain_registry: Registry, plain_registry2: Registry, client: RegistryClient
) -> None:
    """What the daemon does with a refused item: its reason reaches the log
    event, /status (the history) and ``hangard_copy_failures_total``."""
    src, dst = plain_registry, plain_registry2
    image = images.push_oci_image(src, "app/unsigned", "v1", seed=41)
    key = load_public_key(Signer("ec").public_pem, "cosign.pub")
    source = parse_reference(f"{src.host}/app/unsigned:v1")
    item = SyncItem(
        str(source.repository),
        "v1",
        "mirror",
        source,
        parse_reference(f"{dst.host}/app/unsigned:v1"),
        requirements=(SigstoreSigned((key,)),),
    )
    plan = make_plan([item], {item.key: Observation(image.digest, None)})

    with capture_logs() as logs:
        report = await execute(client, plan)

    (result,) = report.results
    assert result.outcome is ItemOutcome.FAILED and result.reason is Reason.SIGNATURE_MISSING
    assert not images.manifest_exists(dst, "app/unsigned", "v1")
    (event,) = [e for e in logs if e["event"] == "item failed"]
    assert event["reason"] == "signature_missing" and "cosign.pub" in event["message"]
    history = History(None)
    history.finished(result)
    status = json.loads(json.dumps(history.status()))
    assert status["items"][0]["last_error_reason"] == "signature_missing"
    metrics = Metrics()
    metrics.count_failure(item.image, item.target, result.reason)
    assert 'reason="signature_missing"' in generate_latest(metrics.registry).decode()


async def test_the_daemon_loads_its_policy_option_on_every_reload(tmp_path: Path) -> None:
    config = tmp_path / "hangard.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "targets": {"m": {"registry": "mirror.test"}},
                "defaults": {"targets": ["m"]},
                "images": [{"source": "src.test/app", "tags": ["v1"]}],
            }
        )
    )
    missing = tmp_path / "policy.json"
    generations = Generations(
        config, concurrency=1, metrics=Metrics(), trust=TrustOptions(policy=missing)
    )

    with capture_logs(), pytest.raises(ConfigError) as info:
        await generations.load()
    assert any(f"cannot read policy file {missing}" in p for p in info.value.problems)

    missing.write_text(json.dumps({"default": [{"type": "reject"}]}))
    with capture_logs() as logs:
        assert await generations.load("SIGHUP")
    assert [e["event"] for e in logs] == ["config loaded"]
    assert generations.current is not None
    loaded = generations.current.config
    assert loaded.state.trust.policy is not None and missing in loaded.files
    await generations.current.retire()


def test_copy_from_a_layout_meets_the_policy_default_only(
    tmp_path: Path, hangard: Hangard, plain_registry: Registry, plain_registry2: Registry
) -> None:
    src, dst = plain_registry, plain_registry2
    images.push_oci_image(src, "app/x", "v1", seed=51)
    layout = f"oci:{tmp_path / 'layout'}:v1"
    assert hangard("copy", "--src-plain-http", f"docker://{src.host}/app/x:v1", layout).code == 0
    key = Signer().write_public(tmp_path / "k.pub")
    wants = tmp_path / "wants.json"
    wants.write_text(json.dumps({"default": [{"type": "sigstoreSigned", "keyPath": str(key)}]}))
    rejects = tmp_path / "rejects.json"
    rejects.write_text(json.dumps({"default": [{"type": "reject"}]}))
    to = f"docker://{dst.host}/app/x:v1"

    signed_only = hangard("copy", "--dest-plain-http", "--policy", str(wants), layout, to)
    rejected = hangard("copy", "--dest-plain-http", "--policy", str(rejects), layout, to)

    assert signed_only.code == 2, signed_only.err
    assert "signatures are checked for registry (docker://) sources only" in signed_only.err
    assert rejected.code == 1 and "the signature policy's default rejects" in rejected.err
    assert not images.manifest_exists(dst, "app/x", "v1")
