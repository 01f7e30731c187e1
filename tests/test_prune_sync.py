"""Pruning against real registries (distribution 2.8, deletes enabled unless
a test says otherwise): ``hangard sync --once`` deletes exactly the tags it
wrote that the desired state no longer selects, and nothing else; skopeo
confirms what remains."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from hangard.config import load_config
from hangard.core.cosign import CosignSuffix, cosign_tag
from hangard.sync import (
    CycleHooks,
    DigestCache,
    ItemOutcome,
    ItemResult,
    OwnershipStore,
    Pruning,
    run_cycle,
)
from hangard.sync.ownership import OWNERSHIP_FILE
from tests.conftest import RegistryFactory
from tests.harness import images, skopeo
from tests.harness.registry import Registry
from tests.helpers_cli import Hangard, Run
from tests.helpers_copy import Host, make_client

REPO = "lib/app"


def write_config(
    path: Path,
    src: Host,
    dst: Host,
    tags: Any,
    *,
    target: dict[str, Any] | None = None,
    entry: dict[str, Any] | None = None,
) -> Path:
    doc = {
        "registries": {src.host: {"http": True}, dst.host: {"http": True}},
        "targets": {"m": {"registry": dst.host, "prefix": "mirror", **(target or {})}},
        "defaults": {"targets": ["m"]},
        "images": [{"source": f"{src.host}/{REPO}", "tags": tags, **(entry or {})}],
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def sync(hangard: Hangard, config: Path, *flags: str) -> Run:
    return hangard("sync", "--once", "--no-progress", *flags, str(config))


def mirror_tags(dst: Registry) -> list[str]:
    return sorted(skopeo.list_tags(dst, f"mirror/{REPO}"))


def owned_tags(hangard: Hangard) -> list[str]:
    store = OwnershipStore.open(hangard.state_dir / OWNERSHIP_FILE)
    try:
        return [o.tag for o in store.owned("m")]
    finally:
        store.close()


def push_tags(src: Registry, *tags: str, seed: int = 0) -> dict[str, str]:
    """One distinct image per tag; tag → digest."""
    return {
        t: images.push_oci_image(src, REPO, t, seed=seed + i).digest for i, t in enumerate(tags)
    }


PATTERN = {"include": [r"1\..*"]}


def test_prune_deletes_what_it_wrote_and_nothing_else(
    tmp_path: Path, hangard: Hangard, plain_registry: Registry, plain_registry2: Registry
) -> None:
    src, dst = plain_registry, plain_registry2
    digests = push_tags(src, "1.0", "1.1", "1.2", seed=10)
    config = write_config(tmp_path / "h.yaml", src, dst, PATTERN, target={"prune": True})
    first = sync(hangard, config)
    assert first.code == 0, first.err
    # someone else's tag, and a signature of a kept image nobody selected
    images.push_oci_image(dst, f"mirror/{REPO}", "foreign", seed=90)
    sig = cosign_tag(digests["1.1"], CosignSuffix.SIGNATURE)
    images.push_oci_image(dst, f"mirror/{REPO}", sig, seed=91)
    assert owned_tags(hangard) == ["1.0", "1.1", "1.2"]

    # the source drops 1.0
    images.delete_manifest(src, REPO, digests["1.0"])
    second = sync(hangard, config)
    assert second.code == 0, second.out + second.err
    assert f"PRUNE {dst.host}/mirror/{REPO}:1.0 [m]: deleted" in second.out
    assert mirror_tags(dst) == sorted(["1.1", "1.2", "foreign", sig])
    assert owned_tags(hangard) == ["1.1", "1.2"]

    # the rule stops matching 1.1
    write_config(config, src, dst, {"include": [r"1\.2"]}, target={"prune": True})
    plan = hangard("plan", "-o", "json", str(config))
    doc = json.loads(plan.out)
    deletes = [a for a in doc["actions"] if a["action"] == "delete"]
    assert [(a["tag"], a["cause"]) for a in deletes] == [("1.1", "no longer selected")]
    assert doc["summary"]["delete"] == 1
    text = hangard("plan", "--detailed-exitcode", str(config))
    assert text.code == 2, text.out
    assert f"{dst.host}/mirror/{REPO}:1.1  [m]  delete (no longer selected)" in text.out
    assert sync(hangard, config).code == 0
    assert mirror_tags(dst) == sorted(["1.2", "foreign", sig])

    # the steady state: pruning sends no request of its own
    seen = len(dst.access_log())
    assert sync(hangard, config).code == 0
    sent = dst.access_log()[seen:]
    assert [e for e in sent if e.method == "DELETE" or "/tags/list" in e.path] == []
    assert len(sent) == 2, sent  # the /v2/ ping and the kept tag's HEAD


def test_without_prune_nothing_is_deleted_and_no_prune_is_an_escape_hatch(
    tmp_path: Path, hangard: Hangard, plain_registry: Registry, plain_registry2: Registry
) -> None:
    src, dst = plain_registry, plain_registry2
    push_tags(src, "1.0", "1.1", seed=20)
    config = write_config(tmp_path / "h.yaml", src, dst, PATTERN)  # prune is off
    assert sync(hangard, config).code == 0
    write_config(config, src, dst, {"include": [r"1\.1"]})
    assert sync(hangard, config).code == 0
    assert mirror_tags(dst) == ["1.0", "1.1"]  # opt-in: nothing deleted

    write_config(config, src, dst, {"include": [r"1\.1"]}, target={"prune": True})
    held = sync(hangard, config, "--no-prune")
    assert held.code == 0 and "PRUNE" not in held.out
    assert mirror_tags(dst) == ["1.0", "1.1"]
    # an entry can opt out of its target's prune
    write_config(
        config, src, dst, {"include": [r"1\.1"]}, target={"prune": True}, entry={"prune": False}
    )
    assert sync(hangard, config).code == 0
    assert mirror_tags(dst) == ["1.0", "1.1"]
    write_config(config, src, dst, {"include": [r"1\.1"]}, target={"prune": True})
    assert sync(hangard, config).code == 0
    assert mirror_tags(dst) == ["1.1"]


def test_the_cap_refuses_and_deletes_nothing(
    tmp_path: Path, hangard: Hangard, plain_registry: Registry, plain_registry2: Registry
) -> None:
    src, dst = plain_registry, plain_registry2
    tags = [f"1.{i}" for i in range(22)]
    image = images.build_image(30, oci=True)
    for tag in tags:
        images.push_image(src, REPO, image, tag)
    config = write_config(tmp_path / "h.yaml", src, dst, PATTERN, target={"prune": True})
    assert sync(hangard, config).code == 0
    # a bad config push: the rule matches nothing any more (22 > the default 20)
    write_config(config, src, dst, {"include": ["nothing"]}, target={"prune": True})
    refused = sync(hangard, config)
    assert refused.code == 1
    assert "prune of target m refused: 22 tags would be deleted" in refused.out
    assert "prune_max" in refused.out
    events = [json.loads(line) for line in refused.err.splitlines() if line.startswith("{")]
    assert any(e.get("reason") == "prune_refused" for e in events)
    assert mirror_tags(dst) == sorted(tags)
    assert len(owned_tags(hangard)) == 22

    plan = hangard("plan", str(config))
    assert plan.code == 1 and "error (prune of target m refused" in plan.out
    # a cap of its own, then raised on purpose
    write_config(config, src, dst, {"include": [r"1\.1.*"]}, target={"prune": True, "prune_max": 2})
    assert sync(hangard, config).code == 1  # 1.0, 1.2 ... 1.9, 1.20, 1.21: 11 > 2
    assert len(mirror_tags(dst)) == 22
    write_config(
        config, src, dst, {"include": [r"1\.1.*"]}, target={"prune": True, "prune_max": 11}
    )
    done = sync(hangard, config)
    assert done.code == 0, done.out
    # every tag shares one manifest: distribution deletes by digest only,
    # which would take the kept tags too, so none is deleted
    assert done.out.count("kept: other tags share its manifest") == 11
    assert len(mirror_tags(dst)) == 22


def test_a_lost_state_dir_deletes_nothing_and_the_plan_says_so(
    tmp_path: Path, hangard: Hangard, plain_registry: Registry, plain_registry2: Registry
) -> None:
    src, dst = plain_registry, plain_registry2
    push_tags(src, "1.0", "1.1", seed=40)
    config = write_config(tmp_path / "h.yaml", src, dst, PATTERN, target={"prune": True})
    assert sync(hangard, config).code == 0
    shutil.rmtree(hangard.state_dir)
    write_config(config, src, dst, {"include": [r"1\.1"]}, target={"prune": True})
    plan = hangard("plan", str(config))
    assert plan.code == 0, plan.out
    assert "note: prune: no ownership records for target m" in plan.out
    assert "nothing will be deleted there" in plan.out
    assert not (hangard.state_dir / OWNERSHIP_FILE).exists()  # a plan writes nothing
    done = sync(hangard, config, "-o", "json")
    assert done.code == 0, done.out
    doc = json.loads(done.out)
    assert doc["pruned"] == []
    assert [n for n in doc["notes"] if "no ownership records for target m" in n]
    assert mirror_tags(dst) == ["1.0", "1.1"]


def test_a_shared_manifest_is_deleted_only_when_no_other_tag_holds_it(
    tmp_path: Path, hangard: Hangard, plain_registry: Registry, plain_registry2: Registry
) -> None:
    src, dst = plain_registry, plain_registry2
    image = images.build_image(50, oci=True)
    for tag in ("1.0", "1.1"):
        images.push_image(src, REPO, image, tag)
    images.push_oci_image(src, REPO, "1.2", seed=51)
    config = write_config(tmp_path / "h.yaml", src, dst, PATTERN, target={"prune": True})
    assert sync(hangard, config).code == 0
    # someone else tags 1.2's manifest on the mirror
    raw = images.get_manifest_raw(dst, f"mirror/{REPO}", "1.2")
    with images.RegistryClient(dst) as c:
        c.put_manifest(
            f"mirror/{REPO}", "theirs", raw, "application/vnd.oci.image.manifest.v1+json"
        )
    write_config(config, src, dst, {"include": [r"1\.1"]}, target={"prune": True})
    done = sync(hangard, config)
    assert done.code == 0, done.out
    # 1.0 shares its manifest with the kept 1.1, 1.2 with "theirs": both stay
    assert mirror_tags(dst) == ["1.0", "1.1", "1.2", "theirs"]
    assert done.out.count("kept: other tags share its manifest") == 2
    # once the other tag is gone, the digest delete takes only what was ours
    images.delete_manifest(dst, f"mirror/{REPO}", images.sha256_digest(raw))
    images.push_image(dst, f"mirror/{REPO}", images.build_image(52, oci=True), "theirs")
    images.push_oci_image(dst, f"mirror/{REPO}", "1.2", seed=51)  # ours again, alone
    assert sync(hangard, config).code == 0
    assert mirror_tags(dst) == ["1.0", "1.1", "theirs"]


def test_an_overwritten_tag_is_not_deleted_and_no_longer_owned(
    tmp_path: Path, hangard: Hangard, plain_registry: Registry, plain_registry2: Registry
) -> None:
    src, dst = plain_registry, plain_registry2
    push_tags(src, "1.0", "1.1", seed=60)
    config = write_config(tmp_path / "h.yaml", src, dst, PATTERN, target={"prune": True})
    assert sync(hangard, config).code == 0
    images.push_oci_image(dst, f"mirror/{REPO}", "1.0", seed=69)  # another writer
    write_config(config, src, dst, {"include": [r"1\.1"]}, target={"prune": True})
    done = sync(hangard, config)
    assert done.code == 0, done.out
    assert "was overwritten since hangard wrote it" in done.out
    assert mirror_tags(dst) == ["1.0", "1.1"]
    assert owned_tags(hangard) == ["1.1"]


def test_owned_attachments_go_only_with_their_image(
    tmp_path: Path, hangard: Hangard, plain_registry: Registry, plain_registry2: Registry
) -> None:
    src, dst = plain_registry, plain_registry2
    digests = push_tags(src, "1.0", "1.1", seed=70)
    config = write_config(tmp_path / "h.yaml", src, dst, PATTERN, target={"prune": True})
    assert sync(hangard, config).code == 0
    # signatures of both images, written (and so owned) by hangard
    store = OwnershipStore.open(hangard.state_dir / OWNERSHIP_FILE)
    sigs = {}
    for seed, (tag, digest) in enumerate(digests.items(), start=75):
        sig = cosign_tag(digest, CosignSuffix.SIGNATURE)
        pushed = images.push_oci_image(dst, f"mirror/{REPO}", sig, seed=seed)
        store.record("m", f"{dst.host}/mirror/{REPO}", sig, pushed.digest)
        sigs[tag] = sig
    store.close()
    write_config(config, src, dst, {"include": [r"1\.1"]}, target={"prune": True})
    done = sync(hangard, config)
    assert done.code == 0, done.out
    # 1.0 and its signature go; 1.1 is kept, and so is its signature
    assert mirror_tags(dst) == sorted(["1.1", sigs["1.1"]])
    assert sorted(owned_tags(hangard)) == sorted(["1.1", sigs["1.1"]])


def test_a_registry_without_deletes_gets_the_remedy(
    tmp_path: Path, hangard: Hangard, plain_registry: Registry, registry_factory: RegistryFactory
) -> None:
    src = plain_registry
    dst = registry_factory("plain", delete_enabled=False)
    push_tags(src, "1.0", "1.1", seed=80)
    config = write_config(tmp_path / "h.yaml", src, dst, PATTERN, target={"prune": True})
    assert sync(hangard, config).code == 0
    write_config(config, src, dst, {"include": [r"1\.1"]}, target={"prune": True})
    done = sync(hangard, config)
    assert done.code == 1
    line = next(x for x in done.out.splitlines() if x.startswith("FAILED delete"))
    assert "does not allow deleting" in line and "405 UNSUPPORTED" in line
    assert "storage.delete.enabled: true" in line and "REGISTRY_STORAGE_DELETE_ENABLED" in line
    assert mirror_tags(dst) == ["1.0", "1.1"]
    assert owned_tags(hangard) == ["1.0", "1.1"]  # still ours, for when deletes work


class _Crash(CycleHooks):
    """Dies right after the first copy, as a killed process would."""

    def __init__(self) -> None:
        self.copied: list[str] = []

    def item_finished(self, result: ItemResult) -> None:
        if result.outcome is ItemOutcome.COPIED:
            self.copied.append(result.action.key[1])
            raise RuntimeError("crash")


async def test_ownership_is_committed_per_push_and_survives_a_crash(
    tmp_path: Path, plain_registry: Registry, plain_registry2: Registry
) -> None:
    src, dst = plain_registry, plain_registry2
    push_tags(src, "1.0", "1.1", seed=85)
    config = write_config(tmp_path / "h.yaml", src, dst, ["1.0", "1.1"], target={"prune": True})
    path = tmp_path / OWNERSHIP_FILE
    store = OwnershipStore.open(path)
    crashed, hooks = False, _Crash()
    async with make_client(src, dst) as client:
        try:
            await run_cycle(
                client,
                load_config(config).state,
                cache=DigestCache(),
                failed_path=None,
                hooks=hooks,
                concurrency=1,
                pruning=Pruning(store),
            )
        except* RuntimeError:
            crashed = True
    assert crashed
    # read through another connection, without closing the first: committed
    other = OwnershipStore.open(path)
    rows = {o.tag: o.repository for o in other.owned("m")}
    assert hooks.copied and rows[hooks.copied[0]] == f"{dst.host}/mirror/{REPO}"
    other.close()
    store.close()


def test_prune_on_a_token_registry_asks_for_the_delete_scope(
    tmp_path: Path, hangard: Hangard, plain_registry: Registry, token_registry: Registry
) -> None:
    src, dst = plain_registry, token_registry
    push_tags(src, "1.0", "1.1", seed=95)
    config = write_config(tmp_path / "h.yaml", src, dst, PATTERN, target={"prune": True})
    doc = yaml.safe_load(config.read_text())
    doc["registries"][dst.host]["credentials"] = {
        "username": "alice",
        "password_env": "HANGARD_TEST_TOKEN_PASSWORD",
    }
    config.write_text(yaml.safe_dump(doc))
    run = hangard.with_env(HANGARD_TEST_TOKEN_PASSWORD="alice-secret")
    assert sync(run, config).code == 0
    doc["images"][0]["tags"] = {"include": [r"1\.1"]}
    config.write_text(yaml.safe_dump(doc))
    done = sync(run, config)
    assert done.code == 0, done.out + done.err
    assert images.list_tags(dst, f"mirror/{REPO}") == ["1.1"]
    assert dst.token_server is not None
    scopes = [s for r in dst.token_server.token_requests() for s in r.scopes]
    asked = [s.rsplit(":", 1)[1].split(",") for s in scopes if f":mirror/{REPO}:" in s]
    assert any("delete" in actions for actions in asked), scopes
