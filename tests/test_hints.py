"""Hints fit where they are read (issue 9 item 17): on the command line they
name the flags of the command that failed, on the right side of a copy; in a
config context they name the keys under ``registries: HOST:``. Real
registries: plain HTTP, TLS with a private CA, basic auth, and a closed port."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import yaml

from hangard.errors import TransportError
from hangard.hints import CONFIG_HINTS, CliHints, Hint
from tests.harness import images
from tests.harness.registry import Registry
from tests.helpers_cli import Hangard, Run


def image(registry: Registry, repo: str, tag: str = "v1") -> str:
    return f"docker://{registry.host}/{repo}:{tag}"


def hints(run: Run) -> list[str]:
    return [line.strip() for line in run.err.splitlines() if line.strip().startswith("hint:")]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_copy_tls_failure_on_the_destination_names_the_destination_and_its_flags(
    plain_registry: Registry, tls_registry: Registry, hangard: Hangard
) -> None:
    images.push_oci_image(plain_registry, "app", "v1", seed=3)
    dst = f"{tls_registry.host}/m/app:v1"

    run = hangard("copy", "--src-plain-http", image(plain_registry, "app"), f"docker://{dst}")

    assert run.code == 1, run.err
    assert run.err.startswith("error: TLS verification failed"), run.err
    assert f"image {dst}" in run.err and f"registry {tls_registry.host}" in run.err
    assert f"{plain_registry.host}/app" not in run.err
    (hint,) = hints(run)
    assert "--dest-ca-file" in hint and "--dest-tls-verify=false" in hint
    assert "--src-" not in hint and "ca_file" not in hint.replace("--dest-ca-file", "")


def test_copy_plain_http_source_hint_names_src_flags_not_urls(
    plain_registry: Registry, plain_registry2: Registry, hangard: Hangard
) -> None:
    images.push_oci_image(plain_registry, "app", "v1", seed=3)

    run = hangard(
        "copy", "--dest-plain-http", image(plain_registry, "app"), image(plain_registry2, "app")
    )

    assert run.code == 1, run.err
    (hint,) = hints(run)
    assert "--src-plain-http" in hint and "--src-tls-verify=false" in hint
    assert "http://" not in hint and "tls_verify:" not in hint and "--dest-" not in hint


def test_inspect_hints_name_inspect_flags(tls_registry: Registry, hangard: Hangard) -> None:
    images.push_oci_image(tls_registry, "app", "v1", seed=3)

    run = hangard("inspect", image(tls_registry, "app"))

    assert run.code == 1
    (hint,) = hints(run)
    assert "--ca-file" in hint and "--tls-verify=false" in hint and "--src-" not in hint


def test_plan_hints_name_config_keys(
    tmp_path: Path, plain_registry: Registry, plain_registry2: Registry, hangard: Hangard
) -> None:
    images.push_oci_image(plain_registry, "app", "v1", seed=3)
    path = tmp_path / "hangard.yaml"
    doc = {
        "registries": {plain_registry2.host: {"http": True}},
        "targets": {"m": {"registry": plain_registry2.host}},
        "defaults": {"targets": ["m"]},
        "images": [{"source": f"{plain_registry.host}/app", "tags": ["v1"]}],
    }
    path.write_text(yaml.safe_dump(doc))

    run = hangard("plan", str(path))

    assert run.code == 1, run.out + run.err
    assert f"registries: {plain_registry.host}: http: true" in run.out
    assert "--" not in run.out.split("hint:", 1)[1].splitlines()[0]


def test_sync_unauthorized_hint_names_config_credentials_not_cli_flags(
    tmp_path: Path, plain_registry: Registry, basic_registry: Registry, hangard: Hangard
) -> None:
    images.push_oci_image(basic_registry, "app", "v1", seed=3)
    path = tmp_path / "hangard.yaml"
    doc = {
        "registries": {plain_registry.host: {"http": True}, basic_registry.host: {"http": True}},
        "targets": {"m": {"registry": plain_registry.host}},
        "defaults": {"targets": ["m"]},
        "images": [{"source": f"{basic_registry.host}/app", "tags": ["v1"]}],
    }
    path.write_text(yaml.safe_dump(doc))

    run = hangard("sync", "--once", "--no-progress", str(path))

    assert run.code == 1, run.out + run.err
    assert "--src-creds" not in run.out + run.err and "--creds" not in run.out + run.err
    assert f"no credentials for {basic_registry.host}; searched:" in run.out
    assert f"registries: {basic_registry.host}: credentials" in run.out


def test_401_without_any_credentials_says_so_and_what_was_searched(
    plain_registry: Registry, basic_registry: Registry, hangard: Hangard
) -> None:
    images.push_oci_image(basic_registry, "app", "v1", seed=3)

    none = hangard("inspect", "--plain-http", image(basic_registry, "app"))
    wrong = hangard(
        "inspect", "--plain-http", "--creds", "alice:wrong", image(basic_registry, "app")
    )

    assert none.code == wrong.code == 1
    assert none.err.startswith(f"error: no credentials for {basic_registry.host}; searched: ")
    assert "--creds" in none.err
    assert "no credentials" not in wrong.err
    assert "--creds" in hints(wrong)[0]


def test_connection_refused_says_so(hangard: Hangard) -> None:
    ref = f"docker://127.0.0.1:{closed_port()}/app:v1"

    run = hangard("inspect", "--plain-http", ref)

    assert run.code == 1
    assert "connection refused" in run.err.splitlines()[0], run.err


@pytest.mark.parametrize(
    ("hint", "cli", "config"),
    [
        (Hint.PLAIN_HTTP, "--src-plain-http", "http: true"),
        (Hint.UNTRUSTED_CA, "--src-ca-file", "ca_file"),
        (Hint.CREDENTIALS, "--src-creds", "credentials"),
    ],
)
def test_one_hint_two_renderings(hint: Hint, cli: str, config: str) -> None:
    error = TransportError("x", hint=hint).with_context(registry="r.example:5000")
    flags = CliHints({"r.example:5000": "--src-"})
    assert cli in (flags.render(error) or "")
    assert config in (CONFIG_HINTS.render(error) or "")
    assert "r.example:5000" in (CONFIG_HINTS.render(error) or "")
