"""policy.json parsing and scope matching (hangard.core.policy), and reading
the policy and key files a config names (hangard.config.trustfiles)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from hangard.config import check_config
from hangard.config.trustfiles import TrustOptions, read_policy_file
from hangard.core.policy import (
    AcceptAnything,
    Identity,
    Policy,
    Reject,
    SigstoreSigned,
    Trust,
    parse_policy,
    policy_key_paths,
)
from hangard.core.reference import parse_reference
from hangard.core.signature import load_public_key
from hangard.errors import InputError
from tests.helpers_sign import Signer

ACCEPT = [{"type": "insecureAcceptAnything"}]
REJECT = [{"type": "reject"}]
PEM = Signer("ed25519").public_pem


def _parse(doc: Any, keys: dict[str, bytes] | None = None) -> Policy:
    return parse_policy(doc, keys or {}, name="policy.json")


def test_default_reject_with_accepted_scopes_most_specific_first() -> None:
    policy = _parse(
        {
            "default": REJECT,
            "transports": {
                "docker": {
                    "quay.io": ACCEPT,
                    "quay.io/team": REJECT,
                    "quay.io/team/app:stable": ACCEPT,
                    "*.corp.test": ACCEPT,
                    "index.docker.io/library/busybox": ACCEPT,
                },
                "dir": {"": ACCEPT},  # other transports are not hangard's
            },
        }
    )

    def first(ref: str) -> object:
        return type(policy.requirements_for(parse_reference(ref))[0])

    assert first("quay.io/other/app:1") is AcceptAnything
    assert first("quay.io/team/app:1") is Reject
    assert first("quay.io/team/app:stable") is AcceptAnything
    assert first("a.b.corp.test/x:1") is AcceptAnything
    assert first("corp.test/x:1") is Reject  # a wildcard matches subdomains only
    assert first("busybox:1") is AcceptAnything  # docker.io spelled either way
    assert first("ghcr.io/x:1") is Reject


def test_transport_default_scope_beats_the_global_default() -> None:
    policy = _parse({"default": REJECT, "transports": {"docker": {"": ACCEPT}}})
    assert policy.requirements_for(parse_reference("ghcr.io/x:1")) == (AcceptAnything(),)


def test_sigstore_signed_with_key_path_paths_and_data() -> None:
    data = base64.b64encode(PEM).decode()
    doc = {
        "default": [{"type": "sigstoreSigned", "keyPath": "/k/a.pub"}],
        "transports": {
            "docker": {
                "r.test/two": [{"type": "sigstoreSigned", "keyPaths": ["/k/a.pub", "/k/b.pub"]}],
                "r.test/inline": [
                    {
                        "type": "sigstoreSigned",
                        "keyData": data,
                        "signedIdentity": {"type": "matchRepository"},
                    }
                ],
            }
        },
    }
    assert sorted(set(policy_key_paths(doc))) == ["/k/a.pub", "/k/b.pub"]

    policy = _parse(doc, {"/k/a.pub": PEM, "/k/b.pub": PEM})

    (one,) = policy.default
    assert isinstance(one, SigstoreSigned) and [k.name for k in one.keys] == ["/k/a.pub"]
    assert one.identity == Identity("matchRepoDigestOrExact")  # containers' default
    (two,) = policy.requirements_for(parse_reference("r.test/two:1"))
    assert isinstance(two, SigstoreSigned) and len(two.keys) == 2
    (inline,) = policy.requirements_for(parse_reference("r.test/inline:1"))
    assert isinstance(inline, SigstoreSigned) and inline.identity == Identity("matchRepository")


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({}, "the global 'default' requirements are mandatory"),
        ({"default": []}, "default: must be a non-empty list"),
        ({"default": [{"type": "acceptAll"}]}, "unknown requirement type 'acceptAll'"),
        ({"default": [{"type": "reject", "x": 1}]}, "unknown field 'x'"),
        ({"default": ACCEPT, "extra": 1}, "unknown field 'extra'"),
        ({"default": [{"type": "signedBy"}]}, "GPG 'signedBy' is not supported"),
        ({"default": [{"type": "sigstoreSigned"}]}, "exactly one of keyPath"),
        (
            {"default": [{"type": "sigstoreSigned", "fulcio": {}}]},
            r"keyless \(Fulcio\) verification is not supported",
        ),
        ({"default": [{"type": "sigstoreSigned", "keyData": "!!"}]}, "base64 of a PEM"),
        (
            {"default": [{"type": "sigstoreSigned", "keyData": "bm90IGEga2V5"}]},
            "not a PEM public key",
        ),
        (
            {
                "default": [
                    {"type": "sigstoreSigned", "keyPath": "/k", "signedIdentity": {"type": "x"}}
                ]
            },
            "unsupported signedIdentity type 'x'",
        ),
        (
            {"default": ACCEPT, "transports": {"docker": {"q.test/x": REJECT * 0}}},
            r"transports.docker\['q.test/x'\]: must be a non-empty list",
        ),
    ],
)
def test_bad_policies_are_clear_errors(doc: Any, message: str) -> None:
    with pytest.raises(InputError, match=message):
        _parse(doc, {"/k": PEM})


def test_trust_requirements_combine_policy_and_verify_keys() -> None:
    key = Signer().public_pem
    policy = _parse({"default": ACCEPT, "transports": {"docker": {"r.test/locked": REJECT}}})
    trust = Trust(policy, {"/a.pub": load_public_key(key, "/a.pub")})
    image = parse_reference("r.test/app:1")

    assert trust.requirements(image, ()) == ()  # no extra request
    (signed,) = trust.requirements(image, ("/a.pub",))
    assert isinstance(signed, SigstoreSigned) and signed.identity is None
    assert isinstance(trust.requirements(parse_reference("r.test/locked:1"), ())[0], Reject)
    assert Trust(policy, insecure=True).requirements(parse_reference("r.test/locked:1"), ()) == ()


# -- files named by a config --------------------------------------------------


def _config(tmp_path: Path, **extra: Any) -> Path:
    doc = {
        "targets": {"m": {"registry": "mirror.test"}},
        "images": [{"source": "src.test/app", "tags": ["v1"]}],
        **extra,
        "defaults": {"targets": ["m"], **extra.get("defaults", {})},
    }
    path = tmp_path / "hangard.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_a_missing_policy_file_names_the_path_and_the_remedy(tmp_path: Path) -> None:
    config = _config(tmp_path, policy="/etc/containers/nowhere/policy.json")

    loaded, problems = check_config(config)

    assert loaded is None
    (problem,) = [str(p) for p in problems]
    assert problem.startswith(f"{config}:")  # FILE:LINE:COL of the policy: key
    assert "cannot read policy file /etc/containers/nowhere/policy.json" in problem
    assert "No such file or directory" in problem
    assert "--insecure-policy" in problem


def test_insecure_policy_reads_no_policy_or_key_file(tmp_path: Path) -> None:
    config = _config(tmp_path, policy="missing.json", defaults={"verify": {"keys": ["gone.pub"]}})

    loaded, problems = check_config(config, trust=TrustOptions(insecure=True))

    assert loaded is not None and not problems
    assert loaded.state.trust.insecure


def test_relative_paths_resolve_against_the_config_and_policy_files(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    Signer("ec").write_public(tmp_path / "keys" / "cosign.pub")
    policy = {
        "default": REJECT,
        "transports": {
            "docker": {"src.test": [{"type": "sigstoreSigned", "keyPath": "keys/cosign.pub"}]}
        },
    }
    (tmp_path / "policy.json").write_text(json.dumps(policy))
    config = _config(tmp_path, policy="policy.json")
    doc = yaml.safe_load(config.read_text())
    doc["images"][0]["verify"] = {"keys": ["keys/cosign.pub"]}
    config.write_text(yaml.safe_dump(doc))

    loaded, problems = check_config(config)

    assert loaded is not None, problems
    trust = loaded.state.trust
    assert trust.policy is not None and str(tmp_path / "keys" / "cosign.pub") in trust.keys
    # the files are watched (hot reload) and hashed
    assert tmp_path / "policy.json" in loaded.files
    assert tmp_path / "keys" / "cosign.pub" in loaded.files


def test_a_bad_key_file_is_reported_at_its_list_item(tmp_path: Path) -> None:
    (tmp_path / "bad.pub").write_text("not a key")
    config = _config(tmp_path, defaults={"verify": {"keys": ["bad.pub", "absent.pub"]}})

    loaded, problems = check_config(config)

    assert loaded is None
    texts = [str(p) for p in problems]
    assert len(texts) == 2
    assert "bad.pub: not a PEM public key" in texts[0]
    assert "cannot read key file" in texts[1] and "absent.pub" in texts[1]
    assert texts[0].split(":")[1] != texts[1].split(":")[1]  # each at its own line


def test_a_policy_file_error_names_the_place_in_it(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"default": [{"type": "whatever"}]}))
    with pytest.raises(InputError, match=r"policy.json: default\[0\]: unknown requirement"):
        read_policy_file(path)
    path.write_text('{"default": [], "default": []}')
    with pytest.raises(InputError, match="duplicate key 'default'"):
        read_policy_file(path)


def test_trust_is_not_a_config_key(tmp_path: Path) -> None:
    loaded, problems = check_config(_config(tmp_path, trust={"insecure": True}))
    assert loaded is None
    assert [p.message for p in problems] == ["unknown key 'trust'"]
