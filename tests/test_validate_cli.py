"""``hangard validate`` as a real subprocess: offline it only reads the file;
``--online`` also checks every source tag exists, every credential works and
every target accepts pushes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.harness import images
from tests.harness.registry import Registry
from tests.helpers_cli import Hangard

BASIC_PASSWORD = "HANGARD_TEST_BASIC_PASSWORD"
TOKEN_PASSWORD = "HANGARD_TEST_TOKEN_PASSWORD"


def registry_settings(reg: Registry, username: str | None = None) -> dict[str, Any]:
    settings: dict[str, Any] = {"http": True}
    if username is not None:
        variable = BASIC_PASSWORD if reg.auth == "basic" else TOKEN_PASSWORD
        settings["credentials"] = {"username": username, "password_env": variable}
    return settings


@pytest.fixture
def config(
    tmp_path: Path,
    plain_registry: Registry,
    plain_registry2: Registry,
    basic_registry: Registry,
    token_registry: Registry,
) -> Path:
    """Two sources (one behind basic auth) to a plain target and a token
    target; passwords come from the environment."""
    src, dst, locked, tok = plain_registry, plain_registry2, basic_registry, token_registry
    images.push_oci_image(src, "app", "v1", seed=1)
    images.push_oci_image(locked, "locked/app", "v1", seed=2)
    doc = {
        "registries": {
            src.host: registry_settings(src),
            dst.host: registry_settings(dst),
            locked.host: registry_settings(locked, "alice"),
            tok.host: registry_settings(tok, "alice"),
        },
        "targets": {"m": {"registry": dst.host}, "t": {"registry": tok.host, "prefix": "t"}},
        "defaults": {"targets": ["m", "t"]},
        "images": [
            {"source": f"{src.host}/app", "tags": ["v1"]},
            {"source": f"{locked.host}/locked/app", "tags": ["v1"]},
        ],
    }
    path = tmp_path / "hangard.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_online_passes_when_every_source_and_credential_works(
    hangard: Hangard,
    config: Path,
    plain_registry: Registry,
    plain_registry2: Registry,
    basic_registry: Registry,
    token_registry: Registry,
) -> None:
    hangard.env.update({BASIC_PASSWORD: "alice-secret", TOKEN_PASSWORD: "alice-secret"})

    run = hangard("validate", "--online", str(config))

    assert run.code == 0, run.out + run.err
    lines = run.out.splitlines()
    assert lines[0] == f"{config}: valid (2 targets, 2 image entries)"
    assert not [line for line in lines if line.startswith("FAIL")]
    for repo in (
        f"{plain_registry2.host}/app",
        f"{plain_registry2.host}/locked/app",
        f"{token_registry.host}/t/app",
        f"{token_registry.host}/t/locked/app",
    ):
        assert f"ok   push to {repo}" in lines
    assert lines[-1] == "online: 2 sources, 4 target repositories, 0 failures"
    # the push check leaves nothing behind
    assert images.list_tags(plain_registry2, "app") == []
    assert basic_registry.count_requests("HEAD", r"^/v2/locked/app/manifests/v1$", 200) == 1


def test_online_names_each_missing_source_and_failing_credential(
    tmp_path: Path,
    hangard: Hangard,
    config: Path,
    plain_registry: Registry,
    basic_registry: Registry,
    token_registry: Registry,
) -> None:
    doc = yaml.safe_load(config.read_text())
    doc["images"][0]["tags"] = ["v1", "nope"]
    doc["registries"][token_registry.host]["credentials"]["username"] = "reader"  # pull only
    config.write_text(yaml.safe_dump(doc, sort_keys=False))
    hangard.env.update({BASIC_PASSWORD: "wrong", TOKEN_PASSWORD: "reader-secret"})

    run = hangard("validate", "--online", str(config))

    assert run.code == 1, run.out + run.err
    fails = [line for line in run.out.splitlines() if line.startswith("FAIL")]
    src, locked, tok = plain_registry.host, basic_registry.host, token_registry.host
    # each source problem once per source tag, whatever the number of targets
    # an explicit tag that is gone is a failure (issue 9, item 11)
    assert f"FAIL {src}/app:nope: error (source {src}/app:nope not found)" in fails
    (unauthorized,) = [f for f in fails if f.startswith(f"FAIL {locked}/locked/app:v1: ")]
    assert unauthorized.startswith(f"FAIL {locked}/locked/app:v1: error (Unauthorized ")
    assert "HTTP 401" in unauthorized and "wrong" not in unauthorized
    pushes = sorted(f.split(": ", 1)[0] for f in fails if f.startswith("FAIL push to "))
    assert pushes == [f"FAIL push to {tok}/t/app", f"FAIL push to {tok}/t/locked/app"]
    assert len(fails) == 4
    assert run.out.splitlines()[-1] == "online: 3 sources, 4 target repositories, 4 failures"


def test_problems_exit_2_with_positions_without_contacting_registries(
    tmp_path: Path, hangard: Hangard, plain_registry: Registry
) -> None:
    path = tmp_path / "hangard.yaml"
    path.write_text(
        "targets:\n"
        f"  m: {{registry: '{plain_registry.host}'}}\n"
        "defaults: {targets: [m]}\n"
        "images:\n"
        f"  - source: {plain_registry.host}/app\n"
        "    tags: [1.20]\n"
    )
    seen = len(plain_registry.access_log())

    run = hangard("validate", "--online", str(path))

    assert run.code == 2
    assert run.out.splitlines() == [
        f'{path}:6:12: expected a string, but YAML reads 1.20 as the number 1.2; quote it: "1.20"'
    ]
    assert run.err.strip() == f"{path}: 1 problem"
    assert plain_registry.access_log()[seen:] == []


def test_online_targets_checks_every_target_holds_the_desired_digest(
    hangard: Hangard,
    config: Path,
    plain_registry: Registry,
    plain_registry2: Registry,
    basic_registry: Registry,
    token_registry: Registry,
) -> None:
    """Issue 9 item 22: Hangar's ``mirror validate``; 2 while copies are
    pending, 0 once synced, 1 on errors."""
    hangard.env.update({BASIC_PASSWORD: "alice-secret", TOKEN_PASSWORD: "alice-secret"})

    pending = hangard("validate", "--online", "--targets", str(config))
    synced = hangard("sync", "--once", "--no-progress", str(config))
    in_sync = hangard("validate", "--online", "--targets", str(config))
    hangard.env[BASIC_PASSWORD] = "wrong"
    errors = hangard("validate", "--online", "--targets", str(config))

    assert pending.code == 2, pending.out + pending.err
    lines = [line for line in pending.out.splitlines() if line.startswith("PENDING ")]
    assert len(lines) == 4
    dst = plain_registry2.host
    assert f"PENDING {plain_registry.host}/app:v1 -> {dst}/app:v1 [m]: copy (missing)" in lines
    assert pending.out.splitlines()[-1].endswith("0 failures, 0 in sync, 4 to copy")
    assert synced.code == 0, synced.out + synced.err
    assert in_sync.code == 0, in_sync.out + in_sync.err
    assert in_sync.out.splitlines()[-1].endswith("0 failures, 4 in sync, 0 to copy")
    assert errors.code == 1, errors.out + errors.err


def test_online_reports_a_target_failure_under_that_target(
    tmp_path: Path, hangard: Hangard, plain_registry: Registry, tls_registry: Registry
) -> None:
    """Issue 9 item 17: a target that fails (an untrusted CA) is named, with
    the config's key for it, not the source tag alone."""
    images.push_oci_image(plain_registry, "app", "v1", seed=1)
    doc = {
        "registries": {plain_registry.host: {"http": True}},
        "targets": {"secure": {"registry": tls_registry.host}},
        "defaults": {"targets": ["secure"]},
        "images": [{"source": f"{plain_registry.host}/app", "tags": ["v1"]}],
    }
    path = tmp_path / "hangard.yaml"
    path.write_text(yaml.safe_dump(doc))

    run = hangard("validate", "--online", str(path))

    assert run.code == 1, run.out + run.err
    fails = [line for line in run.out.splitlines() if line.startswith("FAIL")]
    item = [f for f in fails if f.startswith(f"FAIL {plain_registry.host}/app:v1 -> secure: ")]
    assert item and "TLS verification failed" in item[0], fails
    assert f"registries: {tls_registry.host}: ca_file" in item[0]


def test_a_bad_tag_does_not_hide_an_unknown_target_or_a_duplicate(
    tmp_path: Path, hangard: Hangard
) -> None:
    """Issue 9 item 16: schema and reference problems of one entry in one pass."""
    path = tmp_path / "hangard.yaml"
    path.write_text(
        "targets:\n"
        "  m: {registry: 'mirror.example:5000'}\n"
        "images:\n"
        "  - source: quay.io/app\n"
        "    tags: ['bad tag!']\n"
        "    targets: [mm]\n"
        "  - source: quay.io/app\n"
        "    tags: ['1.0']\n"
        "    targets: [m]\n"
        "    schedule: ''\n"
        "  - source: quay.io/other/app\n"
        "    destination: app\n"
        "    tags: ['1.0']\n"
        "    targets: [m]\n"
    )

    run = hangard("validate", str(path))

    assert run.code == 2
    lines = run.out.splitlines()
    assert lines[0].startswith(f"{path}:5:12: ")  # the tag
    assert lines[1].startswith(f"{path}:6:15: unknown target 'mm'")
    assert lines[2].startswith(f"{path}:8:12: ")  # the clash, at the first source
    assert "mirror.example:5000/app:1.0" in lines[2]
    assert lines[3].startswith(f"{path}:10:15: ")  # the schedule
    assert lines[4].startswith(f"{path}:13:12: ")  # the clash, at the second source
    assert "mirror.example:5000/app:1.0" in lines[4]
    assert len(lines) == 5, lines


def test_an_unset_password_env_is_a_warning_and_with_check_secrets_an_error(
    tmp_path: Path, hangard: Hangard
) -> None:
    """Issue 9 item 16."""
    path = tmp_path / "hangard.yaml"
    path.write_text(
        "registries:\n"
        "  quay.io:\n"
        "    credentials: {username: alice, password_env: HANGARD_TEST_UNSET_PASSWORD}\n"
        "targets:\n"
        "  m: {registry: 'mirror.example:5000'}\n"
        "defaults: {targets: [m]}\n"
        "images:\n"
        "  - {source: quay.io/app, tags: ['1.0']}\n"
    )
    problem = "environment variable HANGARD_TEST_UNSET_PASSWORD is not set"

    warned, refused = hangard.many(
        ["validate", str(path)], ["validate", "--check-secrets", str(path)]
    )

    assert warned.code == 0, warned.out + warned.err
    assert warned.out.splitlines() == [
        f"{path}:3:50: warning: {problem}",
        f"{path}: valid (1 target, 1 image entry)",
    ]
    assert refused.code == 2
    assert refused.out.splitlines() == [f"{path}:3:50: {problem}"]
