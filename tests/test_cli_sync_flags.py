"""``hangard sync`` as skopeo and Hangar users reach for it, as a real
subprocess against real registries: it runs once without ``--once``,
``--dry-run`` is ``plan``, ``--list FILE --to REGISTRY[/PREFIX]`` mirrors a
Hangar list without YAML, ``--retry-times`` wins over the config, and
``-q`` prints only failures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import FaultProxyFactory
from tests.harness import images
from tests.harness.registry import Registry
from tests.helpers_cli import Hangard
from tests.helpers_copy import sha256


def write_config(path: Path, src: str, dst: Registry, **registry: Any) -> Path:
    doc = {
        "registries": {src: {"http": True, **registry}, dst.host: {"http": True}},
        "targets": {"m": {"registry": dst.host, "prefix": "mirror"}},
        "defaults": {"targets": ["m"]},
        "images": [{"source": f"{src}/app", "tags": ["v1"]}],
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_sync_runs_once_without_once_and_once_is_still_accepted(
    plain_registry: Registry, plain_registry2: Registry, hangard: Hangard, tmp_path: Path
) -> None:
    pushed = images.push_oci_image(plain_registry, "app", "v1", seed=1)
    config = write_config(tmp_path / "h.yaml", plain_registry.host, plain_registry2)

    first = hangard("sync", "--no-progress", str(config))
    again = hangard("sync", "--once", "--no-progress", str(config))

    assert first.code == 0, first.err
    assert images.get_manifest_raw(plain_registry2, "mirror/app", "v1") == pushed.manifest
    assert first.out.splitlines()[-1].startswith("sync: 1 copied")
    assert again.code == 0, again.err
    assert again.out.splitlines()[-1].startswith("sync: 0 copied, 1 in sync")


def test_dry_run_prints_the_plan_and_copies_nothing(
    plain_registry: Registry, plain_registry2: Registry, hangard: Hangard, tmp_path: Path
) -> None:
    images.push_oci_image(plain_registry, "app", "v1", seed=2)
    config = write_config(tmp_path / "h.yaml", plain_registry.host, plain_registry2)

    dry, planned = hangard.many(
        ["sync", "--dry-run", "-o", "json", str(config)], ["plan", "-o", "json", str(config)]
    )

    assert (dry.code, planned.code) == (0, 0), dry.err
    assert json.loads(dry.out) == json.loads(planned.out)
    (action,) = json.loads(dry.out)["actions"]
    assert action["action"] == "copy"
    assert images.list_tags(plain_registry2, "mirror/app") == []


def test_retry_times_on_the_command_line_wins_over_the_config(
    plain_registry: Registry,
    plain_registry2: Registry,
    fault_proxy: FaultProxyFactory,
    hangard: Hangard,
    tmp_path: Path,
) -> None:
    images.push_oci_image(plain_registry, "app", "v1", seed=3)
    proxy = fault_proxy(plain_registry)
    config = write_config(tmp_path / "h.yaml", proxy.host, plain_registry2, retry_times=0)
    manifests = r"^/v2/app/manifests/v1$"

    proxy.fail(manifests, 503, times=1)
    by_config = hangard("sync", "--no-progress", str(config))
    proxy.fail(manifests, 503, times=2)
    by_flag = hangard(
        "sync", "--no-progress", "--retry-times", "2", "--retry-delay", "0.01", str(config)
    )

    assert by_config.code == 1, by_config.err
    assert by_flag.code == 0, by_flag.err
    assert images.manifest_exists(plain_registry2, "mirror/app", "v1")


def test_quiet_sync_prints_only_failures(
    plain_registry: Registry, plain_registry2: Registry, hangard: Hangard, tmp_path: Path
) -> None:
    images.push_oci_image(plain_registry, "app", "v1", seed=4)
    config = write_config(tmp_path / "h.yaml", plain_registry.host, plain_registry2)
    gone = tmp_path / "gone.yaml"
    gone.write_text(config.read_text().replace("tags:\n  - v1", "tags:\n  - v9"))

    ok = hangard("sync", "-q", str(config))
    failed = hangard("sync", "-q", str(gone))

    assert ok.code == 0 and (ok.out, ok.err) == ("", ""), ok.err
    assert failed.code == 1 and failed.out == ""
    assert f"FAILED {plain_registry.host}/app:v9 -> m: " in failed.err


# ---------------------------------------------------------------- --list --to
def test_list_to_mirrors_a_hangar_list_without_yaml(
    plain_registry: Registry, plain_registry2: Registry, hangard: Hangard, tmp_path: Path
) -> None:
    src, dst = plain_registry, plain_registry2
    one = images.push_oci_image(src, "team/one", "v1", seed=5)
    multi = images.push_oci_index(src, "team/multi", "v2", seed=6)
    listing = tmp_path / "images.txt"
    listing.write_text(f"# a Hangar list\n{src.host}/team/one:v1\n{src.host}/team/multi:v2\n")

    run = hangard(
        "sync", "--list", str(listing), "--to", f"{dst.host}/mirror/", "--platform", "linux/amd64",
        "--src-plain-http", "--dest-plain-http", "--no-progress",
    )  # fmt: skip

    assert run.code == 0, run.err
    assert images.get_manifest_raw(dst, "mirror/team/one", "v1") == one.manifest
    subset = json.loads(images.get_manifest_raw(dst, "mirror/team/multi", "v2"))
    amd64 = multi.children[0]
    assert [m["digest"] for m in subset["manifests"]] == [amd64.digest]
    assert sha256(images.get_manifest_raw(dst, "mirror/team/multi", "v2")) != multi.digest


def test_list_problems_are_reported_at_file_line_col(hangard: Hangard, tmp_path: Path) -> None:
    listing = tmp_path / "images.txt"
    listing.write_text("nginx:1.27\nBad/Name:1\n")

    run = hangard("sync", "--list", str(listing), "--to", "127.0.0.1:1/m")

    assert run.code == 2
    (line,) = run.err.splitlines()
    assert line.startswith(f"{listing}:2:1: ")


def test_list_needs_to_and_its_flags_need_list(hangard: Hangard, tmp_path: Path) -> None:
    listing = tmp_path / "images.txt"
    listing.write_text("nginx:1.27\n")
    config = tmp_path / "h.yaml"
    config.write_text("targets: {m: {registry: 127.0.0.1:1}}\n")

    no_to, with_config = hangard.many(
        ["sync", "--list", str(listing)],
        ["sync", "--to", "127.0.0.1:1", "--src-plain-http", str(config)],
    )

    assert no_to.code == 2 and "--list needs --to REGISTRY[/PREFIX]" in no_to.err
    assert with_config.code == 2
    assert "--to, --src-plain-http go with --list" in with_config.err
