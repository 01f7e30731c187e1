"""``hangard plan`` as a real subprocess against real registries: one action
per (image, tag, target), the summary line, the JSON form, and every way of
selecting tags. Platform subsets are compared child by child."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from hangard.config import check_config, load_config
from hangard.core.plan import ActionKind, expand
from hangard.registry.client import RegistryClient
from hangard.sync import DigestCache, observe_and_plan
from tests.harness import images
from tests.harness.images import OCI_INDEX, Image, Index, build_image, build_index
from tests.harness.registry import Registry
from tests.helpers_cli import Hangard
from tests.helpers_copy import sha256

WRONG_PASSWORD_ENV = "HANGARD_TEST_WRONG_PASSWORD"


# ------------------------------------------------------------------ helpers
@pytest.fixture
def hangard(hangard: Hangard) -> Hangard:
    """The shared runner, with a wrong password for basic-auth registries."""
    return hangard.with_env(**{WRONG_PASSWORD_ENV: "not-alice-secret"})


def registries(*regs: Registry) -> dict[str, Any]:
    """Plain HTTP for every registry; basic-auth ones get alice with the
    wrong password from the environment."""
    out: dict[str, Any] = {}
    for reg in regs:
        settings: dict[str, Any] = {"http": True}
        if reg.auth == "basic":
            settings["credentials"] = {"username": reg.username, "password_env": WRONG_PASSWORD_ENV}
        out[reg.host] = settings
    return out


def write_config(
    tmp_path: Path,
    *,
    regs: dict[str, Any],
    target: Registry,
    images_: list[dict[str, Any]],
    prefixes: tuple[str, ...] = (),
) -> Path:
    """One target ``m`` (prefix ``mirror``) on ``target``, plus one target per
    extra prefix, named like it."""
    path = tmp_path / "hangard.yaml"
    targets = {"m": {"registry": target.host, "prefix": "mirror"}}
    targets.update({p: {"registry": target.host, "prefix": p} for p in prefixes})
    doc = {
        "registries": regs,
        "targets": targets,
        "defaults": {"targets": ["m"]},
        "images": images_,
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def by_destination(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["destination"]: a for a in doc["actions"]}


# ----------------------------------------------------------- every action
def test_plan_prints_one_action_per_item_and_the_summary(
    tmp_path: Path,
    hangard: Hangard,
    plain_registry: Registry,
    plain_registry2: Registry,
    basic_registry: Registry,
) -> None:
    src, dst = plain_registry, plain_registry2
    synced = images.push_oci_image(src, "app/synced", "v1", seed=1)
    images.push_image(dst, "mirror/app/synced", synced, "v1")
    fresh = images.push_oci_image(src, "app/fresh", "v1", seed=2)
    drifted = images.push_oci_image(src, "app/drift", "v1", seed=3)
    stale = images.push_oci_image(dst, "mirror/app/drift", "v1", seed=4)
    images.push_oci_image(src, "app/gone", "other", seed=5)
    amd64_arm64 = build_index(6, platforms=[("linux", "amd64", None), ("linux", "arm64", "v8")])
    images.push_index(src, "app/multi", amd64_arm64, "v1")
    images.push_oci_image(basic_registry, "locked/app", "v1", seed=7)
    config = write_config(
        tmp_path,
        regs=registries(src, dst, basic_registry),
        target=dst,
        images_=[
            {"source": f"{src.host}/app/synced", "tags": ["v1"]},
            {"source": f"{src.host}/app/fresh", "tags": ["v1"]},
            {"source": f"{src.host}/app/drift", "tags": ["v1"]},
            {"source": f"{src.host}/app/gone", "tags": ["v1"]},
            {"source": f"{src.host}/app/multi", "tags": ["v1"], "platforms": ["linux/s390x"]},
            {"source": f"{basic_registry.host}/locked/app", "tags": ["v1"]},
        ],
    )

    src_seen, dst_seen = len(src.access_log()), len(dst.access_log())
    text, first, second = hangard.many(
        ["plan", str(config)],
        ["plan", "-o", "json", str(config)],
        ["plan", "-o", "json", str(config)],
    )

    # exit 1: an item is in error
    assert (text.code, first.code, second.code) == (1, 1, 1), text.err
    lines = text.out.splitlines()
    assert lines[-1] == "plan: 6 items: 1 in sync, 2 to copy, 1 skipped, 2 errors"
    s, d, b = src.host, dst.host, basic_registry.host
    expected = {
        f"{s}/app/synced:v1  ->  {d}/mirror/app/synced:v1  [m]  in-sync",
        f"{s}/app/fresh:v1  ->  {d}/mirror/app/fresh:v1  [m]  copy (missing)",
        f"{s}/app/drift:v1  ->  {d}/mirror/app/drift:v1  [m]  copy (drift: target "
        f"{stale.digest[:19]} ≠ source {drifted.digest[:19]})",
        f"{s}/app/gone:v1  ->  {d}/mirror/app/gone:v1  [m]  error (source {s}/app/gone:v1 not found)",
        f"{s}/app/multi:v1  ->  {d}/mirror/app/multi:v1  [m]  skip (no matching platform)",
    }
    assert expected <= set(lines[:-1]) and len(lines) == 7
    error = next(line for line in lines if line.startswith(f"{b}/locked/app:v1  ->  "))
    assert error.startswith(f"{b}/locked/app:v1  ->  {d}/mirror/locked/app:v1  [m]  error (")
    assert "Unauthorized" in error and "HTTP 401" in error

    # the JSON form is stable and carries the same decisions
    assert first.out == second.out
    doc = json.loads(first.out)
    assert doc["summary"] == {"in-sync": 1, "copy": 2, "skip": 1, "error": 2, "delete": 0}
    acts = by_destination(doc)
    assert len(acts) == 6
    assert acts[f"{d}/mirror/app/synced:v1"] == {
        "image": f"{s}/app/synced",
        "tag": "v1",
        "target": "m",
        "action": "in-sync",
        "cause": "",
        "reason": None,
        "source": f"{s}/app/synced:v1",
        "destination": f"{d}/mirror/app/synced:v1",
        "platforms": [],
        "source_digest": synced.digest,
        "target_digest": synced.digest,
        "desired_digest": synced.digest,
    }
    missing = acts[f"{d}/mirror/app/fresh:v1"]
    assert (missing["action"], missing["cause"]) == ("copy", "missing")
    assert (missing["source_digest"], missing["target_digest"]) == (fresh.digest, None)
    drift = acts[f"{d}/mirror/app/drift:v1"]
    assert (drift["action"], drift["cause"]) == ("copy", "drift")
    assert (drift["source_digest"], drift["target_digest"]) == (drifted.digest, stale.digest)
    gone = acts[f"{d}/mirror/app/gone:v1"]
    assert (gone["action"], gone["reason"], gone["source_digest"]) == ("error", "not_found", None)
    multi = acts[f"{d}/mirror/app/multi:v1"]
    assert (multi["action"], multi["cause"]) == ("skip", "no matching platform")
    assert multi["source_digest"] == amd64_arm64.digest and multi["platforms"] == ["linux/s390x"]
    locked = acts[f"{d}/mirror/locked/app:v1"]
    assert locked["action"] == "error" and locked["cause"]
    # planning only reads
    for reg, seen in ((src, src_seen), (dst, dst_seen)):
        assert {e.method for e in reg.access_log()[seen:]} <= {"GET", "HEAD"}


# --------------------------------------------------------- tag selections
def test_plan_selects_tags_by_rules_pins_and_list_files(
    tmp_path: Path, hangard: Hangard, plain_registry: Registry, plain_registry2: Registry
) -> None:
    src, dst = plain_registry, plain_registry2
    app = build_image(10)
    for tag in ("1.0.0", "1.1.0", "1.2.0", "1.2.1-rc1", "2.0.0", "2.1.0", "v3.0", "latest"):
        images.push_image(src, "sel/app", app, tag)
    pinned = images.push_oci_image(src, "pin/app", "3.20", seed=11)
    moved = images.push_oci_image(src, "pin/app", "3.20", seed=12)  # the tag moved on
    one = images.push_oci_image(src, "list/one", "1.0", seed=13)
    two = images.push_oci_image(src, "list/two", "2.0", seed=14)
    three = images.push_oci_image(src, "list/three", "x", seed=15)
    four_old = images.push_oci_image(src, "list/four", "4.0", seed=16)
    images.push_oci_image(src, "list/four", "4.0", seed=17)
    (tmp_path / "images.txt").write_text(
        "# a Hangar image list\n"
        f"{src.host}/list/one:1.0          // reference style\n"
        "\n"
        f"{src.host}/list/two copies/two 2.0\n"
        f"{src.host}/list/three@{three.digest}\n"
        f"{src.host}/list/four   copies/four   4.0@{four_old.digest}  # pinned\n"
    )
    sel = f"{src.host}/sel/app"
    config = write_config(
        tmp_path,
        regs=registries(src, dst),
        target=dst,
        prefixes=("regex", "semver", "latest", "both", "explicit"),
        images_=[
            {
                "source": sel,
                "targets": ["regex"],
                "tags": {"include": [r"1\.\d+\.\d+", "v.*"], "exclude": [r"1\.0\..*"]},
            },
            {"source": sel, "targets": ["semver"], "tags": {"semver": ">=1.1 <2"}},
            {"source": sel, "targets": ["latest"], "tags": {"latest": 2}},
            {
                "source": sel,
                "targets": ["both"],
                "tags": {"semver": "^2", "exclude": [r"2\.0\..*"], "latest": 3},
            },
            {"source": sel, "targets": ["explicit"], "tags": ["latest", "2.0.0", "9.9"]},
            {"source": f"{src.host}/pin/app", "tags": [f"3.20@{pinned.digest}"]},
            {"list": "images.txt"},
        ],
    )

    run = hangard("plan", "-o", "json", str(config))

    assert run.code == 1, run.err  # explicit:9.9 does not exist: an error
    acts = by_destination(json.loads(run.out))
    d = dst.host
    wanted = {
        f"{d}/regex/sel/app:1.1.0",
        f"{d}/regex/sel/app:1.2.0",
        f"{d}/regex/sel/app:v3.0",
        f"{d}/semver/sel/app:1.1.0",
        f"{d}/semver/sel/app:1.2.0",
        f"{d}/latest/sel/app:v3.0",
        f"{d}/latest/sel/app:2.1.0",
        f"{d}/both/sel/app:2.1.0",
        f"{d}/explicit/sel/app:latest",
        f"{d}/explicit/sel/app:2.0.0",
        f"{d}/explicit/sel/app:9.9",
        f"{d}/mirror/pin/app:3.20",
        f"{d}/mirror/list/one:1.0",
        f"{d}/copies/two:2.0",
        f"{d}/mirror/list/three:{three.digest.replace(':', '-')}",
        f"{d}/copies/four:4.0",
    }
    assert set(acts) == wanted
    for dest, act in acts.items():
        expect = (
            ("error", f"source {src.host}/sel/app:9.9 not found")
            if dest.endswith(":9.9")
            else ("copy", "missing")
        )
        assert (act["action"], act["cause"]) == expect, dest
        if "/sel/app:" in dest and not dest.endswith(":9.9"):
            assert act["source_digest"] == app.digest
    # pins copy the pinned digest, not what the tag points at now
    pin = acts[f"{d}/mirror/pin/app:3.20"]
    assert pin["source_digest"] == pinned.digest != moved.digest
    assert pin["source"] == f"{src.host}/pin/app:3.20@{pinned.digest}"
    assert acts[f"{d}/copies/four:4.0"]["source_digest"] == four_old.digest
    assert acts[f"{d}/mirror/list/one:1.0"]["source_digest"] == one.digest
    assert acts[f"{d}/copies/two:2.0"]["image"] == f"{src.host}/list/two"
    assert acts[f"{d}/copies/two:2.0"]["source_digest"] == two.digest
    # the tag list was read once for the repository all rule entries share
    assert src.count_requests("GET", r"^/v2/sel/app/tags/list$") == 1


# ------------------------------------------------------- platform subsets
def other_index(source: Index, arm64: Image, extra: Image) -> bytes:
    """An index another tool might write: the given arm64 child beside a
    child the source does not have, in another order, with an annotation."""
    doc = json.loads(source.manifest)
    keep = next(m for m in doc["manifests"] if m["platform"]["architecture"] == "arm64")
    keep = {**keep, "digest": arm64.digest, "size": len(arm64.manifest)}
    doc["manifests"] = [extra.descriptor(), keep]
    doc["annotations"] = {"org.example.written-by": "another-tool"}
    return json.dumps(doc, indent=2).encode()


async def test_platform_subset_is_in_sync_when_the_selected_children_match(
    tmp_path: Path,
    hangard: Hangard,
    client: RegistryClient,
    plain_registry: Registry,
    plain_registry2: Registry,
) -> None:
    src, dst = plain_registry, plain_registry2
    source = images.push_oci_index(src, "multi/app", "v1", seed=20, attestations=True)
    arm64 = source.children[1]
    config = write_config(
        tmp_path,
        regs=registries(src, dst),
        target=dst,
        images_=[{"source": f"{src.host}/multi/app", "tags": ["v1"], "platforms": ["linux/arm64"]}],
    )

    synced = hangard("sync", "--once", "--no-progress", str(config))
    planned = hangard("plan", "-o", "json", str(config))

    assert synced.code == 0, synced.err
    subset = images.get_manifest_raw(dst, "mirror/multi/app", "v1")
    assert sha256(subset) != source.digest
    kept = json.loads(subset)["manifests"]
    assert [m["digest"] for m in kept if m["platform"]["os"] != "unknown"] == [arm64.digest]
    assert planned.code == 0, planned.err
    (action,) = json.loads(planned.out)["actions"]
    assert action["action"] == "in-sync"
    assert action["target_digest"] == action["desired_digest"] == sha256(subset)

    # another tool wrote a different index with the same arm64 child
    extra = build_image(21, architecture="s390x")
    images.push_image(dst, "mirror/multi/app", extra)
    theirs = other_index(source, arm64, extra)
    with images.RegistryClient(dst) as push:
        push.put_manifest("mirror/multi/app", "v1", theirs, OCI_INDEX)
    loaded = load_config(config)
    plan = (await observe_and_plan(client, loaded.state, cache=DigestCache())).plan
    (same,) = plan.actions
    assert same.kind is ActionKind.IN_SYNC
    assert same.target_digest == sha256(theirs) != same.desired_digest

    # ... and with another arm64 child it is drift
    wrong = build_image(22, architecture="arm64", variant="v8")
    images.push_image(dst, "mirror/multi/app", wrong)
    with images.RegistryClient(dst) as push:
        push.put_manifest("mirror/multi/app", "v1", other_index(source, wrong, extra), OCI_INDEX)
    plan = (await observe_and_plan(client, loaded.state, cache=DigestCache())).plan
    (drift,) = plan.actions
    assert (drift.kind, drift.cause) == (ActionKind.COPY, "drift")
    # compared with the subset index hangard writes, and said so
    assert drift.desired_digest == sha256(subset)
    assert f"≠ desired (platform subset) {sha256(subset)[:19]})" in drift.describe()


# ------------------------------------------------------------ one key, one output
def test_one_source_tag_to_two_destinations_on_one_target_is_never_dropped(
    tmp_path: Path,
) -> None:
    config = tmp_path / "hangard.yaml"
    config.write_text(
        "targets:\n"
        "  m: {registry: mirror.example.com}\n"
        "defaults: {targets: [m]}\n"
        "images:\n"
        "  - {source: quay.io/org/app, tags: ['1.0'], destination: one/app}\n"
        "  - {source: quay.io/org/app, tags: ['1.0'], destination: two/app}\n"
    )

    loaded, problems = check_config(config)

    # either validation refuses it, or the plan keeps both outputs
    if not problems:
        assert loaded is not None
        items, _ = expand(loaded.state, {})
        assert sorted(str(i.destination) for i in items) == [
            "mirror.example.com/one/app:1.0",
            "mirror.example.com/two/app:1.0",
        ]


def test_plan_detailed_exitcode_is_0_in_sync_2_pending_1_errors(
    tmp_path: Path, hangard: Hangard, plain_registry: Registry, plain_registry2: Registry
) -> None:
    """Issue 9 item 22: like terraform's, so CI can fail on drift."""
    src, dst = plain_registry, plain_registry2
    images.push_oci_image(src, "app", "v1", seed=11)
    config = write_config(
        tmp_path,
        regs=registries(src, dst),
        target=dst,
        images_=[{"source": f"{src.host}/app", "tags": ["v1"]}],
    )
    broken = tmp_path / "broken.yaml"
    doc = yaml.safe_load(config.read_text())
    del doc["registries"][src.host]  # https to a plain registry: an error
    broken.write_text(yaml.safe_dump(doc))

    pending, plain, errors = hangard.many(
        ["plan", "--detailed-exitcode", str(config)],
        ["plan", str(config)],
        ["plan", "--detailed-exitcode", str(broken)],
    )
    synced = hangard("sync", "--once", "--no-progress", str(config))
    in_sync = hangard("plan", "--detailed-exitcode", str(config))

    assert (pending.code, plain.code, errors.code) == (2, 0, 1), pending.err + errors.err
    assert synced.code == 0, synced.out + synced.err
    assert in_sync.code == 0, in_sync.out + in_sync.err
    assert in_sync.out.splitlines()[-1].endswith("1 in sync, 0 to copy, 0 skipped, 0 errors")
