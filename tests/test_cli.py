"""The ``hangard`` command line, run as a real subprocess against real registries."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hangard import __version__
from tests.harness import images
from tests.harness.authfile import AuthFiles
from tests.harness.images import OCI_INDEX, Index
from tests.harness.registry import Registry
from tests.helpers_cli import Hangard
from tests.helpers_copy import blob_writes, sha256

PLAIN = ["--src-plain-http", "--dest-plain-http"]


@pytest.fixture
def multi(plain_registry: Registry) -> Index:
    """A 3-platform OCI index with attestations as ``multi/app:v1``."""
    return images.push_oci_index(plain_registry, "multi/app", "v1", seed=5, attestations=True)


def image(registry: Registry, repo: str, tag: str = "v1") -> str:
    return f"docker://{registry.host}/{repo}:{tag}"


# --------------------------------------------------------------------- inspect
def test_inspect_raw_prints_the_exact_manifest_bytes(
    plain_registry: Registry, multi: Index, hangard: Hangard
) -> None:
    proc = hangard("inspect", "--raw", "--plain-http", image(plain_registry, "multi/app"))

    assert proc.code == 0, proc.err
    assert proc.stdout == multi.manifest


def test_inspect_summary_lists_digest_type_and_platforms(
    plain_registry: Registry, multi: Index, hangard: Hangard
) -> None:
    proc = hangard("inspect", "--plain-http", image(plain_registry, "multi/app"))

    assert proc.code == 0, proc.err
    out = proc.out
    assert f"Digest:     {multi.digest}" in out
    assert f"MediaType:  {OCI_INDEX}" in out
    assert "Manifests:  6" in out
    for platform, child in zip(
        ("linux/amd64", "linux/arm64/v8", "linux/arm/v7"), multi.children, strict=True
    ):
        line = next(line for line in out.splitlines() if child.digest in line)
        assert line.split()[0] == platform
    assert out.count("attestation for") == 3


def test_inspect_config_of_one_platform(
    plain_registry: Registry, multi: Index, hangard: Hangard
) -> None:
    arm64 = multi.children[1]
    ref = image(plain_registry, "multi/app")

    pretty = hangard("inspect", "--config", "--platform", "linux/arm64", "--plain-http", ref)
    raw = hangard("inspect", "--config", "--raw", "--platform", "linux/arm64", "--plain-http", ref)

    assert pretty.code == 0, pretty.err
    config = json.loads(pretty.stdout)
    assert config == json.loads(arm64.config.data)
    assert config["architecture"] == "arm64" and config["variant"] == "v8"
    assert raw.code == 0 and raw.stdout == arm64.config.data


def test_inspect_platform_shows_that_child(
    plain_registry: Registry, multi: Index, hangard: Hangard
) -> None:
    arm = multi.children[2]
    ref = image(plain_registry, "multi/app")

    raw = hangard("inspect", "--raw", "--platform", "linux/arm/v7", "--plain-http", ref)
    summary = hangard("inspect", "--platform", "linux/arm/v7", "--plain-http", ref)
    none = hangard("inspect", "--platform", "windows/amd64", "--plain-http", ref)

    assert raw.code == 0 and raw.stdout == arm.manifest
    assert f"Digest:     {arm.digest}" in summary.out
    assert "(linux/arm/v7)" in summary.out
    assert none.code == 2 and "no entry for the platform" in none.err


def test_inspect_tls_registry_with_its_ca(tls_registry: Registry, hangard: Hangard) -> None:
    img = images.push_schema2_image(tls_registry, "secure/app", "v1", seed=8)
    ref = image(tls_registry, "secure/app")

    trusted = hangard("inspect", "--raw", "--ca-file", str(tls_registry.ca_file), ref)
    untrusted = hangard("inspect", "--raw", ref)

    assert trusted.code == 0 and trusted.stdout == img.manifest
    assert untrusted.code == 1
    assert "hint:" in untrusted.err and "--ca-file=PATH" in untrusted.err


# ------------------------------------------------------------------------ copy
def test_copy_all_keeps_the_digest(
    plain_registry: Registry, plain_registry2: Registry, multi: Index, hangard: Hangard
) -> None:
    args = [
        "copy",
        "--all",
        *PLAIN,
        image(plain_registry, "multi/app"),
        image(plain_registry2, "m/app"),
    ]

    proc = hangard(*args)
    again = hangard(*args)

    assert proc.code == 0, proc.err
    assert images.get_manifest_raw(plain_registry2, "m/app", "v1") == multi.manifest
    out = proc.out
    assert f"digest:    {multi.digest}" in out
    assert "12 copied, 0 mounted, 0 already present" in out
    assert again.code == 0
    assert again.out.strip() == (
        f"up to date: {plain_registry2.host}/m/app:v1 is already {multi.digest}"
    )


def test_copy_one_platform_as_json(
    plain_registry: Registry, plain_registry2: Registry, multi: Index, hangard: Hangard
) -> None:
    proc = hangard(
        "copy",
        "--platform",
        "linux/amd64",
        "--output",
        "json",
        *PLAIN,
        image(plain_registry, "multi/app"),
        image(plain_registry2, "m/app", "amd64"),
    )

    assert proc.code == 0, proc.err
    result = json.loads(proc.stdout)
    raw = images.get_manifest_raw(plain_registry2, "m/app", "amd64")
    assert result["target_digest"] == sha256(raw) != multi.digest
    assert result["source_digest"] == multi.digest
    assert result["digest_preserved"] is False
    assert result["platforms"] == ["linux/amd64"]
    assert result["media_type"] == OCI_INDEX
    assert result["source"] == f"{plain_registry.host}/multi/app:v1"
    assert result["target"] == f"{plain_registry2.host}/m/app:amd64"
    assert result["blobs_copied"] == 4  # image config + layer, attestation config + layer
    assert result["manifests_pushed"] == 3
    assert result["bytes_moved"] > 0
    assert result["up_to_date"] is False and result["skipped"] is None
    assert result["converted_from"] is None
    amd64, att = multi.children[0], multi.attestations[0]
    assert [m["digest"] for m in json.loads(raw)["manifests"]] == [amd64.digest, att.digest]


def test_copy_with_no_matching_platform_says_skipped(
    plain_registry: Registry, plain_registry2: Registry, multi: Index, hangard: Hangard
) -> None:
    proc = hangard(
        "copy",
        "-p",
        "linux/riscv64",
        *PLAIN,
        image(plain_registry, "multi/app"),
        image(plain_registry2, "m/app"),
    )

    assert proc.code == 0, proc.err
    assert "warning: " in proc.err and "no image for the requested platforms" in proc.err
    assert images.list_tags(plain_registry2, "m/app") == []


# Port 1 has no registry: a command that reached the network would exit 1, not 2.
NOWHERE_SRC, NOWHERE_DST = "docker://127.0.0.1:1/a:v1", "docker://127.0.0.1:1/b:v1"
BAD_USAGE = {
    "all-and-platform": (
        ["copy", "--all", "-p", "linux/amd64", NOWHERE_SRC, NOWHERE_DST],
        "--all and --platform exclude each other",
    ),
    "bad-platform": (["copy", "--platform", "x", NOWHERE_SRC, NOWHERE_DST], "invalid platform"),
    "uppercase": (["copy", "docker://127.0.0.1:1/Bad/Name:v1", NOWHERE_DST], "lowercase"),
    "bool": (["copy", "--src-tls-verify=maybe", NOWHERE_SRC, NOWHERE_DST], "true or false"),
    "src-creds": (["copy", "--src-creds", "s3cret", NOWHERE_SRC, NOWHERE_DST], "for --src-creds:"),
    "dest-creds": (
        ["copy", "--dest-creds", "s3cret", NOWHERE_SRC, NOWHERE_DST],
        "for --dest-creds:",
    ),
    "creds": (["inspect", "--creds", "s3cret", NOWHERE_SRC], "for --creds:"),
    "no-dst": (["copy", NOWHERE_SRC], "DST"),
}


@pytest.mark.parametrize(("args", "message"), BAD_USAGE.values(), ids=BAD_USAGE.keys())
def test_bad_usage_exits_2_without_network(args: list[str], message: str, hangard: Hangard) -> None:
    proc = hangard(*args)

    assert proc.code == 2, (proc.stdout, proc.stderr)
    assert proc.stdout == b""
    assert message in proc.err
    assert "s3cret" not in proc.err


def test_missing_image_exits_1_with_the_inspect_remedy(
    plain_registry: Registry, plain_registry2: Registry, hangard: Hangard
) -> None:
    missing = f"{plain_registry.host}/ghost/app:v9"

    proc = hangard("copy", *PLAIN, f"docker://{missing}", image(plain_registry2, "ghost/app"))

    assert proc.code == 1
    err = proc.err
    assert "error:" in err
    assert f"where: image {missing}" in err
    assert (
        f"hint: image does not exist: check with `hangard inspect --raw docker://{missing}`" in err
    )
    assert proc.stdout == b""
    assert blob_writes(plain_registry2) == 0


def test_tls_verify_false_falls_back_to_plain_http(
    plain_registry: Registry, plain_registry2: Registry, multi: Index, hangard: Hangard
) -> None:
    copied = hangard(
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        image(plain_registry, "multi/app"),
        image(plain_registry2, "m/app"),
    )
    inspected = hangard("inspect", "--raw", "--tls-verify=false", image(plain_registry2, "m/app"))
    refused = hangard("inspect", "--raw", image(plain_registry2, "m/app"))

    assert copied.code == 0, copied.err
    assert images.get_manifest_raw(plain_registry2, "m/app", "v1") == multi.manifest
    assert inspected.code == 0 and inspected.stdout == multi.manifest
    assert refused.code == 1  # https by default, and no silent downgrade
    assert "hint:" in refused.err and "--plain-http" in refused.err


def test_copy_to_tls_registry_with_dest_ca_file(
    plain_registry: Registry, tls_registry: Registry, multi: Index, hangard: Hangard
) -> None:
    proc = hangard(
        "copy",
        "--src-plain-http",
        "--dest-ca-file",
        str(tls_registry.ca_file),
        "--progress",  # bars on a pipe must not break anything
        image(plain_registry, "multi/app"),
        image(tls_registry, "m/app"),
    )

    assert proc.code == 0, proc.err
    assert images.get_manifest_raw(tls_registry, "m/app", "v1") == multi.manifest
    assert proc.out.startswith(f"copied {plain_registry.host}/multi/app:v1 -> ")


def test_dest_creds_push_to_basic_auth_registry(
    plain_registry: Registry, basic_registry: Registry, multi: Index, hangard: Hangard
) -> None:
    src, dst = image(plain_registry, "multi/app"), image(basic_registry, "m/app")

    ok = hangard("copy", *PLAIN, "--dest-creds", "alice:alice-secret", src, dst)
    wrong = hangard(
        "copy",
        *PLAIN,
        "--dest-creds",
        "alice:not-her-secret",
        src,
        image(basic_registry, "m/app", "v2"),
    )

    assert ok.code == 0, ok.err
    assert images.get_manifest_raw(basic_registry, "m/app", "v1") == multi.manifest
    assert wrong.code == 1
    err = wrong.err
    assert "hint: check credentials and that the target project exists" in err
    assert f"registry {basic_registry.host}" in err
    assert "not-her-secret" not in err + wrong.out
    assert not images.manifest_exists(basic_registry, "m/app", "v2")


def test_authfile_supplies_dest_credentials(
    plain_registry: Registry,
    basic_registry: Registry,
    multi: Index,
    hangard: Hangard,
    tmp_authfile: AuthFiles,
) -> None:
    tmp_authfile.add(basic_registry.host, "alice", "alice-secret")
    src, dst = image(plain_registry, "multi/app"), image(basic_registry, "m/app")

    proc = hangard("copy", *PLAIN, "--authfile", str(tmp_authfile.docker_config), src, dst)

    assert proc.code == 0, proc.err
    assert images.get_manifest_raw(basic_registry, "m/app", "v1") == multi.manifest


# ----------------------------------------------------------------------- misc
@pytest.mark.parametrize("args", [["version"], ["--version"]])
def test_version(hangard: Hangard, args: list[str]) -> None:
    proc = hangard(*args)

    assert proc.code == 0
    assert proc.out == f"hangard {__version__}\n"


def test_version_flag_loads_no_command_line_library(hangard: Hangard) -> None:
    """``hangard --version`` answers before typer, click and pydantic load
    (hangard/entry.py): the same line, at the cost of Python's own start."""
    run, loaded = hangard.loaded("--version")

    assert run.code == 0 and run.out == f"hangard {__version__}\n"
    heavy = {"typer", "click", "pydantic", "pydantic_core", "hangard.cli"}
    assert sorted(m for m in loaded if m in heavy or m.split(".")[0] in heavy) == []


def test_show_completion_prints_a_script(hangard: Hangard) -> None:
    no_detection = hangard.with_env(_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1")

    proc = no_detection("--show-completion", "bash")

    assert proc.code == 0, proc.err
    script = proc.out
    assert "_HANGARD_COMPLETE=complete_bash" in script  # named hangard, not "python -m ..."
    assert script.rstrip().endswith("complete -o default -F _hangard_completion hangard")


def test_completion_answers_for_subcommands_and_options(hangard: Hangard) -> None:
    complete = hangard.with_env(_HANGARD_COMPLETE="complete_bash", COMP_CWORD="2")

    commands = complete.with_env(COMP_WORDS="hangard co", COMP_CWORD="1")()
    options = complete.with_env(COMP_WORDS="hangard copy --dest-p")()

    assert commands.code == 0 and commands.out.split() == ["copy"]
    assert options.code == 0 and options.out.split() == ["--dest-plain-http"]


def test_the_cli_starts_without_the_network_and_config_stack() -> None:
    """Shell completion and ``--version`` start the program on every key
    press: importing the CLI must not load httpx, pydantic, structlog and the
    rest; each command imports what it works with when it runs."""
    heavy = ["httpx", "httpcore", "pydantic", "pydantic_settings", "structlog", "yaml", "asyncio"]
    code = (
        "import sys, hangard.cli\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout

    assert out.strip() == "[]"


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("HANGARD_LOG_LEVEL", "bogus", "expected one of debug, info, warning, error"),
        ("HANGARD_LOG_FORMAT", "xml", "expected one of auto, json, console"),
    ],
)
def test_a_bad_logging_variable_is_named(
    hangard: Hangard, variable: str, value: str, expected: str
) -> None:
    run = hangard.with_env(**{variable: value})("version")

    assert run.code == 2
    assert run.err.splitlines() == [f"error: {variable}={value}: {expected}"]


def test_logging_variables_are_case_insensitive(hangard: Hangard) -> None:
    run = hangard.with_env(HANGARD_LOG_LEVEL="DEBUG", HANGARD_LOG_FORMAT="JSON")("version")

    assert run.code == 0 and run.out.startswith("hangard ")
