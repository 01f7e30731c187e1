"""Scale-out: ``--shard I/N`` splits a desired state's items between
instances by rendezvous hashing of (repository, target), against real
registries: the shards together copy every item exactly once, each touches
only its own, and ``plan --shards N`` shows the spread."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from hangard.core.shard import owner
from tests.harness import images, skopeo
from tests.harness.daemon import HangardDaemon, MetricsSnapshot, daemons, wait_until
from tests.harness.registry import Registry
from tests.helpers_cli import Hangard

pytestmark = pytest.mark.usefixtures("tmp_authfile")

Make = Callable[..., HangardDaemon]


@pytest.fixture
def make_daemon(tmp_path: Path) -> Iterator[Make]:
    with daemons(tmp_path) as make:
        yield make


def in_sync_images(metrics: MetricsSnapshot) -> set[str]:
    return {labels["image"] for labels, _ in metrics.series("hangard_image_in_sync")}


REPOS = 30
TAGS = ("1", "2")  # 60 items on one target


def catalog(src: Registry, dst: Registry, path: Path) -> Path:
    for i in range(REPOS):
        for tag in TAGS:
            images.push_oci_image(src, f"team/app{i}", tag, seed=1000 + 10 * i + int(tag))
    doc = {
        "version": 1,
        "registries": {src.host: {"http": True}, dst.host: {"http": True}},
        "defaults": {"targets": ["mirror"]},
        "targets": {"mirror": {"registry": dst.host}},
        "images": [{"source": f"{src.host}/team/app{i}", "tags": list(TAGS)} for i in range(REPOS)],
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def owners(src: Registry) -> dict[str, int]:
    return {
        f"{src.host}/team/app{i}": owner(f"{src.host}/team/app{i}", "mirror", 3)
        for i in range(REPOS)
    }


def tag_requests(registry: Registry, method: str) -> Counter[str]:
    """``method`` requests for manifests by tag, per ``repo:tag``."""
    found: Counter[str] = Counter()
    for entry in registry.access_log():
        parts = entry.path.split("/manifests/")
        if entry.method == method and len(parts) == 2 and not parts[1].startswith("sha256:"):
            found[f"{parts[0].removeprefix('/v2/')}:{parts[1]}"] += 1
    return found


def test_three_shards_copy_every_item_exactly_once(
    hangard: Hangard, plain_registry: Registry, plain_registry2: Registry, tmp_path: Path
) -> None:
    src, dst = plain_registry, plain_registry2
    config = catalog(src, dst, tmp_path / "hangard.yaml")
    mine = owners(src)

    spread = hangard("plan", "--shards", "3", "-o", "json", str(config))
    assert spread.code == 0, spread.err
    doc = json.loads(spread.out)
    expected = Counter(mine.values())
    assert [s["repository_targets"] for s in doc["per_shard"]] == [expected[i] for i in range(3)]
    assert [s["items"] for s in doc["per_shard"]] == [2 * expected[i] for i in range(3)]
    assert doc["items"] == 60 and 1 / 3 <= doc["largest_share"] < 0.6
    text = hangard("plan", "--shards", "3", str(config)).out
    assert f"shard 0/3: {2 * expected[0]} items ({expected[0]} repository-targets)" in text
    assert "shards: 60 items over 3; the largest shard holds" in text

    planned = hangard("plan", "--shard", "1/3", "-o", "json", str(config))
    assert planned.code == 0, planned.err
    actions = json.loads(planned.out)["actions"]
    assert {a["image"] for a in actions} == {r for r, o in mine.items() if o == 1}
    assert len(actions) == 2 * expected[1]
    dst.access_log()  # the plan's HEADs are not the syncs'
    head_before = tag_requests(dst, "HEAD")

    runs = [
        hangard.with_env(HANGARD_STATE_DIR=str(tmp_path / f"state{i}")).start(
            "sync", "--shard", f"{i}/3", "--once", "--no-progress", "-o", "json", str(config)
        )
        for i in range(3)
    ]
    results = []
    for proc in runs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
        results.append(json.loads(out))

    for i, result in enumerate(results):
        copied = {r["image"] for r in result["results"] if r["outcome"] == "copied"}
        assert copied == {r for r, o in mine.items() if o == i}, i
        assert result["summary"]["copied"] == 2 * expected[i]
    # every tag pushed exactly once, and asked for only by its owner
    puts = tag_requests(dst, "PUT")
    assert puts.pop("hangard/shards:count") == 1  # shard 0's shard-count marker
    assert set(puts) == {f"team/app{i}:{t}" for i in range(REPOS) for t in TAGS}
    assert set(puts.values()) == {1}
    heads = tag_requests(dst, "HEAD") - head_before
    assert set(heads.values()) == {1} and len(heads) == 60, heads
    gets = tag_requests(src, "GET")
    assert all(n == 1 for n in gets.values()), gets

    # the union is what one unsharded run finds: everything in sync
    whole = hangard("sync", "--once", "--no-progress", "-o", "json", str(config))
    assert whole.code == 0, whole.err
    assert (
        json.loads(whole.out)["summary"]
        == {
            "copied": 0,
            "in-sync": 60,
            "failed": 0,
            "skipped": 0,
        }
        or json.loads(whole.out)["summary"]["copied"] == 0
    )


def test_a_bad_shard_is_a_usage_error(hangard: Hangard, tmp_path: Path) -> None:
    config = tmp_path / "hangard.yaml"
    config.write_text("version: 1\ntargets: {}\nimages: []\n")
    run = hangard("plan", "--shard", "3/3", str(config))
    assert run.code == 2
    assert "shard 3 does not exist in 3 shard(s): use 0 to 2" in run.err
    assert "Traceback" not in run.err
    statefulset = hangard.with_env(HANGARD_SHARDS="3", HOSTNAME="mirror-host")
    run = statefulset("sync", "--once", str(config))
    assert run.code == 2
    assert "has no StatefulSet ordinal" in run.err and "HANGARD_SHARD=I/N" in run.err


def small_catalog(src: Registry, dst: Registry, path: Path, repos: int) -> Path:
    for i in range(repos):
        images.push_oci_image(src, f"team/svc{i}", "1", seed=2000 + i)
    doc = {
        "version": 1,
        "registries": {src.host: {"http": True}, dst.host: {"http": True}},
        "defaults": {"targets": ["mirror"], "schedule": "1h"},
        "targets": {"mirror": {"registry": dst.host}},
        "images": [{"source": f"{src.host}/team/svc{i}", "tags": ["1"]} for i in range(repos)],
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_three_daemons_share_the_work_and_a_restart_moves_nothing(
    plain_registry: Registry, plain_registry2: Registry, make_daemon: Make, tmp_path: Path
) -> None:
    src, dst = plain_registry, plain_registry2
    repos = 9
    config = small_catalog(src, dst, tmp_path / "hangard.yaml", repos)
    names = [f"{src.host}/team/svc{i}" for i in range(repos)]
    mine = {n: owner(n, "mirror", 3) for n in names}
    daemons = [make_daemon(config, watch=False, args=["--shard", f"{i}/3"]) for i in range(3)]
    for daemon in daemons:
        daemon.start()
    for daemon in daemons:
        wait_until(daemon.ready, 60, message="first cycle")

    for i, daemon in enumerate(daemons):
        metrics = daemon.metrics()
        own = {n for n, o in mine.items() if o == i}
        assert in_sync_images(metrics) == own, i
        assert all(v == 1 for _, v in metrics.series("hangard_image_in_sync"))
        assert metrics.value("hangard_shard_info", shard=str(i), shards="3") == 1
        assert metrics.value("hangard_items_owned") == len(own)
        assert metrics.value("hangard_desired_images") == len(own)  # sum: the whole
        shard = daemon.status()["shard"]
        assert shard == {"shard": f"{i}/3", "index": i, "count": 3, "items_owned": len(own)}
    for i in range(repos):
        assert images.manifest_exists(dst, f"team/svc{i}", "1")

    before = daemons[1].metrics()
    assert daemons[1].stop() == 0
    daemons[1].start()
    wait_until(daemons[1].ready, 60, message="first cycle after the restart")
    after = daemons[1].metrics()
    assert in_sync_images(after) == in_sync_images(before)
    summary = daemons[1].events("cycle finished")[-1]
    assert summary["copied"] == 0 and summary["in_sync"] == len(in_sync_images(after))


def test_two_instances_on_the_same_shard_push_the_same_tags_harmlessly(
    hangard: Hangard, plain_registry: Registry, plain_registry2: Registry, tmp_path: Path
) -> None:
    """A mis-set ordinal: two instances own the same items and copy them at
    the same time. Pushes are idempotent (content-addressed blobs, then the
    same manifest bytes), so both succeed and every tag at the target is the
    source's exact manifest with all its blobs."""
    src, dst = plain_registry, plain_registry2
    indexes = [images.push_oci_index(src, f"team/multi{i}", "1", seed=3000 + i) for i in range(4)]
    doc = {
        "version": 1,
        "registries": {src.host: {"http": True}, dst.host: {"http": True}},
        "defaults": {"targets": ["mirror"]},
        "targets": {"mirror": {"registry": dst.host}},
        "images": [{"source": f"{src.host}/team/multi{i}", "tags": ["1"]} for i in range(4)],
    }
    config = tmp_path / "hangard.yaml"
    config.write_text(yaml.safe_dump(doc, sort_keys=False))

    twins = [
        hangard.with_env(HANGARD_STATE_DIR=str(tmp_path / f"twin{i}")).start(
            "sync", "--shard", "0/1", "--once", "--no-progress", str(config)
        )
        for i in range(2)
    ]
    for proc in twins:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()

    for i, index in enumerate(indexes):
        repo = f"team/multi{i}"
        assert images.get_manifest_raw(dst, repo, "1") == index.manifest
        skopeo.copy_to_dir(dst, repo, "1", tmp_path / f"check{i}")  # every blob is there


def test_an_instance_with_another_shard_count_warns(
    hangard: Hangard, plain_registry: Registry, plain_registry2: Registry, tmp_path: Path
) -> None:
    """Shard 0 records N in a marker at the first target
    (``hangard/shards:count``); an instance started with another N reads
    it and warns, one with the same N does not."""
    src, dst = plain_registry, plain_registry2
    config = small_catalog(src, dst, tmp_path / "hangard.yaml", 2)

    def sync(shard: str) -> list[dict[str, object]]:
        run = hangard("sync", "--once", "--no-progress", "--shard", shard, str(config))
        assert run.code == 0, run.err
        return [json.loads(line) for line in run.err.splitlines() if line.startswith("{")]

    def warned(events: list[dict[str, object]]) -> list[dict[str, object]]:
        return [e for e in events if e["event"] == "shard count differs from the peers'"]

    assert not warned(sync("0/3"))
    marker = json.loads(skopeo.inspect_raw(dst, "hangard/shards", "count"))
    assert marker["annotations"] == {"io.hangard.shards": "3"}
    assert not warned(sync("2/3"))
    (warning,) = warned(sync("1/4"))
    assert warning["marker_shards"] == 3 and warning["shard"] == "1/4"
    assert "HANGARD_SHARDS=3" in str(warning["hint"])

    assert not warned(sync("0/4"))  # shard 0 is the authority: it rewrites the marker
    marker = json.loads(skopeo.inspect_raw(dst, "hangard/shards", "count"))
    assert marker["annotations"] == {"io.hangard.shards": "4"}
    assert warned(sync("2/3"))
