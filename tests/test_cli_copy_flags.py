"""The skopeo flags of ``hangard copy`` and ``save``, as a real subprocess
against real registries: ``--retry-times``/``--retry-delay`` (a fault proxy
answers 503, which no local registry does), ``--digestfile``, ``-q``,
``--src-authfile``/``--dest-authfile`` and ``--fail-on-no-match``."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from hangard.cli.flags import Retries
from hangard.cli.image import RegistrySettings, client_for, registry_options
from tests.conftest import FaultProxyFactory, RegistryFactory
from tests.harness import images
from tests.harness.images import Index
from tests.harness.registry import Registry
from tests.helpers_cli import Hangard, Run
from tests.helpers_copy import sha256

PLAIN = ["--src-plain-http", "--dest-plain-http"]
FAST = ["--retry-delay", "0.01"]


def ref(registry: Registry | str, repo: str, tag: str = "v1") -> str:
    host = registry if isinstance(registry, str) else registry.host
    return f"docker://{host}/{repo}:{tag}"


def log_events(run: Run) -> list[str]:
    """The ``event`` of every JSON log line on stderr."""
    events = []
    for line in run.err.splitlines():
        if line.startswith("{"):
            events.append(json.loads(line)["event"])
    return events


# ------------------------------------------------------------------ retries
def test_retry_times_bounds_the_attempts_of_copy(
    plain_registry: Registry,
    plain_registry2: Registry,
    fault_proxy: FaultProxyFactory,
    hangard: Hangard,
) -> None:
    pushed = images.push_oci_image(plain_registry, "app", "v1", seed=1)
    proxy = fault_proxy(plain_registry)
    manifests = r"^/v2/app/manifests/v1$"
    src, dst = ref(proxy.host, "app"), ref(plain_registry2, "app")

    proxy.fail(manifests, 503, times=2)
    refused = hangard("copy", *PLAIN, *FAST, "--retry-times", "1", src, dst)
    tried = proxy.count(None, manifests)
    proxy.fail(manifests, 503, times=2)
    served = hangard("copy", *PLAIN, *FAST, "--retry-times", "2", src, dst)

    assert refused.code == 1 and "503" in refused.err, refused.err
    assert tried == 2  # one attempt and one retry
    assert served.code == 0, served.err
    assert proxy.count(None, manifests) - tried == 3  # two refused, the third served
    assert images.get_manifest_raw(plain_registry2, "app", "v1") == pushed.manifest


def test_retry_delay_and_times_reach_every_registry_of_the_client() -> None:
    settings: RegistrySettings = {
        "src.example": (registry_options("true", None, False), None),
        "dst.example": (registry_options("true", None, False), None),
    }

    client = client_for(settings, None, Retries(7, 0.25))
    options = client.options

    for host in ("src.example", "dst.example", "elsewhere.example"):
        assert options.attempts_for(host) == 8
        assert options.backoff_base_for(host) == 0.25


@pytest.mark.parametrize(("value", "message"), [("-1", "--retry-times"), ("101", "--retry-times")])
def test_retry_times_out_of_range_is_bad_usage(hangard: Hangard, value: str, message: str) -> None:
    run = hangard(
        "copy", "--retry-times", value, "docker://127.0.0.1:1/a:v1", "docker://127.0.0.1:1/b:v1"
    )

    assert run.code == 2
    assert message in run.err and "is not between 0 and 100" in run.err


def test_save_takes_retry_times(
    plain_registry: Registry, fault_proxy: FaultProxyFactory, hangard: Hangard, tmp_path: Path
) -> None:
    images.push_oci_image(plain_registry, "app", "v1", seed=2)
    proxy = fault_proxy(plain_registry)
    proxy.fail(r"^/v2/app/manifests/v1$", 503, times=2)
    archive = tmp_path / "out.zip"
    src = f"{proxy.host}/app:v1"

    refused = hangard("save", "--plain-http", *FAST, "--retry-times", "0", "-o", str(archive), src)
    served = hangard("save", "--plain-http", *FAST, "--retry-times", "3", "-o", str(archive), src)

    assert refused.code == 1, refused.err
    assert served.code == 0, served.err
    assert archive.is_file()


# --------------------------------------------------------- digest, quiet
def test_digestfile_holds_the_digest_written_at_the_destination(
    plain_registry: Registry, plain_registry2: Registry, hangard: Hangard, tmp_path: Path
) -> None:
    index = images.push_oci_index(plain_registry, "multi", "v1", seed=3)
    whole, subset = tmp_path / "whole", tmp_path / "subset"

    first = hangard(
        "copy", *PLAIN, "--digestfile", str(whole), ref(plain_registry, "multi"),
        ref(plain_registry2, "multi"),
    )  # fmt: skip
    second = hangard(
        "copy", *PLAIN, "-p", "linux/amd64", "--digestfile", str(subset),
        ref(plain_registry, "multi"), ref(plain_registry2, "multi", "amd64"),
    )  # fmt: skip

    assert (first.code, second.code) == (0, 0), first.err + second.err
    assert whole.read_text() == index.digest
    written = images.get_manifest_raw(plain_registry2, "multi", "amd64")
    assert subset.read_text() == sha256(written) != index.digest


def test_quiet_prints_nothing_but_copies(
    plain_registry: Registry, plain_registry2: Registry, hangard: Hangard
) -> None:
    pushed = images.push_oci_image(plain_registry, "app", "v1", seed=4)
    loud = hangard("copy", *PLAIN, ref(plain_registry, "app"), ref(plain_registry2, "loud"))

    quiet = hangard("copy", *PLAIN, "-q", ref(plain_registry, "app"), ref(plain_registry2, "app"))

    assert loud.out.startswith("copied ") and log_events(loud) == []  # said once, on stdout
    assert quiet.code == 0, quiet.err
    assert (quiet.out, quiet.err) == ("", "")
    assert images.get_manifest_raw(plain_registry2, "app", "v1") == pushed.manifest


# ------------------------------------------------------------- auth files
def write_authfile(path: Path, host: str, user: str, password: str) -> Path:
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    path.write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return path


def test_each_side_reads_its_own_authfile(
    registry_factory: RegistryFactory, hangard: Hangard, tmp_path: Path
) -> None:
    src = registry_factory("basic", username="alice", password="alice-secret")
    dst = registry_factory("basic", username="bob", password="bob-secret")
    pushed = images.push_oci_image(src, "app", "v1", seed=5)
    alice = write_authfile(tmp_path / "alice.json", src.host, "alice", "alice-secret")
    bob = write_authfile(tmp_path / "bob.json", dst.host, "bob", "bob-secret")
    args = [*PLAIN, ref(src, "app"), ref(dst, "app")]

    swapped = hangard("copy", "--src-authfile", str(bob), "--dest-authfile", str(alice), *args)
    right = hangard("copy", "--src-authfile", str(alice), "--dest-authfile", str(bob), *args)

    assert swapped.code == 1 and "401" in swapped.err, swapped.err
    assert right.code == 0, right.err
    assert images.get_manifest_raw(dst, "app", "v1") == pushed.manifest


# --------------------------------------------------- --platform matching nothing
@pytest.fixture
def multi(plain_registry: Registry) -> Index:
    return images.push_oci_index(plain_registry, "multi/app", "v1", seed=6)


def test_no_matching_platform_warns_and_exits_0_unless_told_to_fail(
    plain_registry: Registry, plain_registry2: Registry, multi: Index, hangard: Hangard
) -> None:
    args = [
        "-p",
        "linux/riscv64",
        *PLAIN,
        ref(plain_registry, "multi/app"),
        ref(plain_registry2, "m"),
    ]

    warned, failed = hangard.many(["copy", *args], ["copy", "--fail-on-no-match", *args])

    for run in (warned, failed):
        warning = [line for line in run.err.splitlines() if line.startswith("warning:")]
        assert warning == [
            f"warning: {plain_registry.host}/multi/app:v1: no image for the requested platforms"
        ], run.err
    assert (warned.code, failed.code) == (0, 1)
    assert images.list_tags(plain_registry2, "m") == []
