"""``hangard sync --once`` and the sync library (observe_and_plan / execute / run_cycle)
against real registries: what gets copied, what a failure leaves behind, and
how few requests a run needs."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import yaml

from hangard.config import load_config
from hangard.copy import Copier, TransferSession
from hangard.core.plan import ActionKind
from hangard.registry.client import RegistryClient
from hangard.registry.credentials import CredentialStore
from hangard.registry.options import ClientOptions, RegistryOptions
from hangard.sync import (
    CycleHooks,
    DigestCache,
    ItemOutcome,
    ItemResult,
    KeyLocks,
    execute,
    observe_and_plan,
    run_cycle,
    write_failed_list,
)
from tests.harness import images, skopeo
from tests.harness.authfile import AuthFiles
from tests.harness.images import Image, Index, make_layer
from tests.harness.registry import AccessLogEntry, Registry, free_port
from tests.helpers_cli import Hangard, Run
from tests.helpers_copy import image_with_layers, sha256, uploads_of

BASIC_PASSWORD = "HANGARD_TEST_BASIC_PASSWORD"
TOKEN_PASSWORD = "HANGARD_TEST_TOKEN_PASSWORD"
SUMMARY = re.compile(
    r"^sync: (\d+) copied, (\d+) in sync, (\d+) failed, (\d+) skipped; "
    r"\d+(?:\.\d)? (?:B|KiB|MiB) in \d+\.\ds$"
)


# ------------------------------------------------------------------ helpers
def summary(run: Run) -> tuple[int, ...]:
    """(copied, in sync, failed, skipped) from the last line of the output."""
    m = SUMMARY.match(run.out.splitlines()[-1])
    assert m, run.out
    return tuple(int(n) for n in m.groups())


def write_config(
    path: Path,
    regs: dict[str, Any],
    targets: dict[str, Registry | tuple[Registry, str]],
    images_: list[dict[str, Any]],
    default_targets: list[str] | None = None,
) -> Path:
    """A desired-state file; a target is a registry, or (registry, prefix).
    Entries go to the first target unless they or ``default_targets`` say."""
    doc = {
        "registries": regs,
        "targets": {
            name: {"registry": t[0].host, "prefix": t[1]}
            if isinstance(t, tuple)
            else {"registry": t.host}
            for name, t in targets.items()
        },
        "defaults": {"targets": default_targets or list(targets)[:1]},
        "images": images_,
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def plain(*regs: Registry) -> dict[str, Any]:
    return {r.host: {"http": True} for r in regs}


def with_password(reg: Registry, username: str, variable: str) -> dict[str, Any]:
    return {
        reg.host: {"http": True, "credentials": {"username": username, "password_env": variable}}
    }


def requests_since(reg: Registry, seen: int) -> list[AccessLogEntry]:
    return reg.access_log()[seen:]


def kind(entry: AccessLogEntry) -> str:
    path = entry.path
    if path == "/v2/":
        return "ping"
    for part in ("manifests", "blobs/uploads", "blobs", "tags"):
        if f"/{part}/" in path:
            return part
    return path


# ------------------------------------------------------------- copy it all
def test_sync_copies_everything_then_nothing(
    tmp_path: Path, hangard: Hangard, plain_registry: Registry, plain_registry2: Registry
) -> None:
    src, dst = plain_registry, plain_registry2
    index = images.push_oci_index(src, "lib/multi", "v1", seed=1, attestations=True)
    listed = images.push_docker_manifest_list(src, "lib/list", "v1", seed=2)
    docker = images.push_schema2_image(src, "lib/docker", "v1", seed=3)
    oci_old = images.push_oci_image(src, "lib/oci", "1.0", seed=4)
    oci_new = images.push_oci_image(src, "lib/oci", "1.1", seed=5)
    images.push_oci_image(src, "lib/oci", "0.9", seed=6)
    config = write_config(
        tmp_path / "hangard.yaml",
        plain(src, dst),
        {"m": (dst, "mirror")},
        [
            {"source": f"{src.host}/lib/multi", "tags": ["v1"]},
            {"source": f"{src.host}/lib/list", "tags": ["v1"]},
            {"source": f"{src.host}/lib/docker", "tags": ["v1", "missing"]},
            {"source": f"{src.host}/lib/oci", "tags": {"semver": ">=1"}},
        ],
    )
    failed = tmp_path / "failed.txt"
    args = ["sync", "--once", "--no-progress", "--failed-file", str(failed), str(config)]

    first = hangard(*args)

    # lib/docker:missing is named by the config: a not_found failure
    assert first.code == 1, first.err
    assert summary(first) == (5, 0, 1, 0)
    expected: list[tuple[str, str, Image | Index]] = [
        ("lib/multi", "v1", index),
        ("lib/list", "v1", listed),
        ("lib/docker", "v1", docker),
        ("lib/oci", "1.0", oci_old),
        ("lib/oci", "1.1", oci_new),
    ]
    for repo, tag, source in expected:
        raw = skopeo.inspect_raw(dst, f"mirror/{repo}", tag)
        assert raw == source.manifest and sha256(raw) == source.digest, repo
    assert sorted(images.list_tags(dst, "mirror/lib/oci")) == ["1.0", "1.1"]
    assert failed.read_text().splitlines()[-1] == f"{src.host}/lib/docker mirror/lib/docker missing"
    assert not any(hangard.cwd.iterdir())

    seen = len(dst.access_log())
    again = hangard(*args[:-1], "-o", "json", str(config))

    assert again.code == 1, again.err
    doc = json.loads(again.out)
    assert doc["summary"] == {"copied": 0, "in-sync": 5, "failed": 1, "skipped": 0}
    assert doc["bytes"] == 0
    outcomes = {(r["image"].split("/", 1)[1], r["tag"]): r["outcome"] for r in doc["results"]}
    assert outcomes[("lib/docker", "missing")] == "failed"
    assert {e.method for e in requests_since(dst, seen)} <= {"GET", "HEAD"}


def test_progress_display_does_not_change_the_result(
    tmp_path: Path, hangard: Hangard, plain_registry: Registry, plain_registry2: Registry
) -> None:
    """``--progress`` forces the live display (bars on stderr) even off a
    TTY; the copy and the summary on stdout are the same as without it."""
    src, dst = plain_registry, plain_registry2
    image = images.push_oci_index(src, "lib/bars", "v1", seed=81)
    config = write_config(
        tmp_path / "hangard.yaml",
        plain(src, dst),
        {"m": dst},
        [{"source": f"{src.host}/lib/bars", "tags": ["v1"]}],
    )

    run = hangard("sync", "--once", "--progress", str(config))

    assert run.code == 0, run.err
    assert summary(run) == (1, 0, 0, 0)
    assert images.get_manifest_raw(dst, "lib/bars", "v1") == image.manifest


# ------------------------------------------------- failures stay contained
def test_failures_are_listed_and_the_list_retries_them(
    tmp_path: Path,
    hangard: Hangard,
    plain_registry: Registry,
    plain_registry2: Registry,
    basic_registry: Registry,
    token_registry: Registry,
) -> None:
    """An unauthorized source and a target refusing pushes fail alone; the
    failed list, fed back as a ``list:`` entry, retries just those."""
    src, dst, locked_src, tok = plain_registry, plain_registry2, basic_registry, token_registry
    one = images.push_oci_image(src, "app/one", "v1", seed=10)
    locked = images.push_oci_image(locked_src, "locked/app", "v1", seed=11)
    regs = {
        **plain(src, dst),
        **with_password(locked_src, "alice", BASIC_PASSWORD),
        **with_password(tok, "reader", TOKEN_PASSWORD),  # may pull, not push
    }
    config = write_config(
        tmp_path / "hangard.yaml",
        regs,
        {"good": dst, "tok": tok},
        [
            {"source": f"{src.host}/app/one", "tags": ["v1"], "targets": ["good", "tok"]},
            {"source": f"{locked_src.host}/locked/app", "tags": ["v1"]},
        ],
    )
    hangard.env.update({BASIC_PASSWORD: "wrong", TOKEN_PASSWORD: "reader-secret"})

    run = hangard("sync", "--once", "--no-progress", str(config))

    assert run.code == 1, run.err
    assert summary(run) == (1, 0, 2, 0)
    assert images.get_manifest_raw(dst, "app/one", "v1") == one.manifest
    assert not images.manifest_exists(tok, "app/one", "v1")
    failures = [line for line in run.out.splitlines() if line.startswith("FAILED ")]
    assert len(failures) == 2
    assert any(f.startswith(f"FAILED {src.host}/app/one:v1 -> tok: ") for f in failures)
    assert any(f.startswith(f"FAILED {locked_src.host}/locked/app:v1 -> good: ") for f in failures)
    # item 12: the wrong password is one JSON failure event with its reason
    events = [json.loads(line) for line in run.err.splitlines() if line.startswith("{")]
    (refused,) = [
        e for e in events if e["event"] == "item failed" and e["image"].endswith("locked/app")
    ]
    assert (refused["tag"], refused["target"], refused["reason"]) == ("v1", "good", "unauthorized")
    assert refused["message"] and "hint" in refused
    (done,) = [e for e in events if e["event"] == "cycle finished"]
    assert (done["copied"], done["in_sync"], done["failed"], done["skipped"]) == (1, 0, 2, 0)
    assert done["bytes"] > 0 and done["duration_seconds"] >= 0
    # by default the list goes to the state dir, never the working directory
    listed = hangard.state_dir / "hangard-failed.txt"
    assert f"2 failed item(s) listed in {listed}" in run.err
    assert not any(hangard.cwd.iterdir())
    assert listed.read_text() == (
        "# hangard: items that failed in the last sync; format SOURCE DEST TAG\n"
        f"# target: good ({dst.host})\n"
        f"{locked_src.host}/locked/app locked/app v1\n"
        f"# target: tok ({tok.host})\n"
        f"{src.host}/app/one app/one v1@{one.digest}\n"
    )

    # fix the causes, then feed the list back
    retry_list = tmp_path / "retry.txt"
    shutil.copyfile(listed, retry_list)
    retry = write_config(
        tmp_path / "retry.yaml",
        {**regs, **with_password(tok, "alice", TOKEN_PASSWORD)},
        {"good": dst, "tok": tok},
        [{"list": retry_list.name, "targets": ["good", "tok"]}],
    )
    hangard.env.update({BASIC_PASSWORD: "alice-secret", TOKEN_PASSWORD: "alice-secret"})

    again = hangard("sync", "--once", "--no-progress", str(retry))

    assert again.code == 0, again.err
    # every line goes to both targets: app/one on good is already there
    assert summary(again) == (3, 1, 0, 0)
    assert images.get_manifest_raw(tok, "app/one", "v1") == one.manifest
    assert images.get_manifest_raw(dst, "locked/app", "v1") == locked.manifest
    assert images.get_manifest_raw(tok, "locked/app", "v1") == locked.manifest
    assert not listed.exists()


def test_bad_config_exits_2_with_positions_and_contacts_nothing(
    tmp_path: Path, hangard: Hangard, plain_registry: Registry
) -> None:
    config = tmp_path / "hangard.yaml"
    config.write_text(
        "targets:\n"
        f"  m: {{registry: '{plain_registry.host}'}}\n"
        "defaults: {targets: [m]}\n"
        "images:\n"
        f"  - source: {plain_registry.host}/one\n"
        "    tagz: [v1]\n"
        f"  - source: {plain_registry.host}/two\n"
        "    tags: [v1]\n"
        "    targets: [mirorr]\n"
    )
    seen = len(plain_registry.access_log())

    run = hangard("sync", "--once", "--no-progress", str(config))

    assert run.code == 2
    assert run.err.splitlines() == [
        f"{config}:5:5: missing required key 'tags'",
        f"{config}:6:5: unknown key 'tagz'; did you mean 'tags'?",
        f"{config}:9:15: unknown target 'mirorr' (known: m)",
        f"{config}: invalid; run `hangard validate {config}`",
    ]
    assert run.out == ""
    assert requests_since(plain_registry, seen) == []


# ------------------------------------------------------------- economy
def test_shared_base_layer_is_uploaded_once_per_run(
    tmp_path: Path, hangard: Hangard, plain_registry: Registry, plain_registry2: Registry
) -> None:
    src, dst = plain_registry, plain_registry2
    base = make_layer(7001, file_size=32 * 1024)
    apps = [image_with_layers([base, make_layer(7100 + i)], seed=i) for i in range(5)]
    for i, app in enumerate(apps):
        images.push_image(src, f"shared/app{i}", app, "v1")
    config = write_config(
        tmp_path / "hangard.yaml",
        plain(src, dst),
        {"m": (dst, "mirror")},
        [{"source": f"{src.host}/shared/app{i}", "tags": ["v1"]} for i in range(5)],
    )
    src_seen = len(src.access_log())

    run = hangard("sync", "--once", "--no-progress", str(config))

    assert run.code == 0, run.err
    assert summary(run) == (5, 0, 0, 0)
    assert uploads_of(dst, base.digest) == 1
    mounted = [
        e
        for e in dst.access_log()
        if e.method == "POST" and f"mount={base.digest}" in unquote(e.uri) and e.status == 201
    ]
    assert len(mounted) == 4
    for app in apps:  # every other blob once too
        for blob in [app.config, app.layers[1]]:
            assert uploads_of(dst, blob.digest) == 1
    base_reads = [
        e
        for e in requests_since(src, src_seen)
        if e.method == "GET" and e.path.endswith(base.digest)
    ]
    assert len(base_reads) == 1
    for i, app in enumerate(apps):
        assert images.get_manifest_raw(dst, f"mirror/shared/app{i}", "v1") == app.manifest


def test_steady_state_sync_reads_no_manifest_or_blob(
    tmp_path: Path, hangard: Hangard, plain_registry: Registry, plain_registry2: Registry
) -> None:
    """Nothing changed: one manifest HEAD per source tag and per target item,
    one tag list per source repository (pattern entries need it anyway;
    attachments are found from it), pings; no GET of a manifest or blob,
    also for platform subsets (their answer is cached in the state dir,
    which is left as it was)."""
    src, dst = plain_registry, plain_registry2
    for tag, seed in (("v1", 30), ("v2", 31)):
        images.push_oci_image(src, "eco/one", tag, seed=seed)
    images.push_oci_index(src, "eco/multi", "v1", seed=32, attestations=True)
    images.push_oci_image(src, "eco/single", "v1", seed=33)
    for tag, seed in (("1.0", 34), ("1.1", 35), ("latest", 35)):
        images.push_oci_image(src, "eco/pat", tag, seed=seed)
    pin = images.push_oci_image(src, "eco/pin", "3.20", seed=36)
    images.push_oci_image(src, "eco/pin", "3.20", seed=38)  # the tag moves on
    images.push_oci_image(src, "eco/listed", "1.0", seed=37)
    (tmp_path / "images.txt").write_text(f"{src.host}/eco/listed:1.0\n")
    config = write_config(
        tmp_path / "hangard.yaml",
        plain(src, dst),
        {"a": (dst, "a"), "b": (dst, "b")},
        [
            {"source": f"{src.host}/eco/one", "tags": ["v1", "v2"]},
            {"source": f"{src.host}/eco/multi", "tags": ["v1"], "platforms": ["linux/arm64"]},
            {"source": f"{src.host}/eco/single", "tags": ["v1"], "platforms": ["linux/amd64"]},
            {"source": f"{src.host}/eco/pat", "tags": {"semver": ">=1"}},
            {"source": f"{src.host}/eco/pin", "tags": [f"3.20@{pin.digest}"]},
            {"list": "images.txt"},
        ],
        default_targets=["a", "b"],
    )
    args = ["sync", "--once", "--no-progress", str(config)]

    first = hangard(*args)
    assert first.code == 0, first.err
    assert summary(first) == (16, 0, 0, 0)
    cache = (hangard.state_dir / "subset-cache.json").stat()
    for prefix in ("a", "b"):  # the pinned digest, pushed under the tag
        assert images.get_manifest_raw(dst, f"{prefix}/eco/pin", "3.20") == pin.manifest
    src_seen, dst_seen = len(src.access_log()), len(dst.access_log())

    second = hangard(*args)

    assert second.code == 0, second.err
    assert summary(second) == (0, 16, 0, 0)
    on_src, on_dst = requests_since(src, src_seen), requests_since(dst, dst_seen)
    src_kinds = Counter((e.method, kind(e), e.status) for e in on_src)
    dst_kinds = Counter((e.method, kind(e), e.status) for e in on_dst)
    # 8 source references (one:v1, one:v2, multi, single, pat:1.0, pat:1.1,
    # pin@digest, listed), each on 2 targets; 6 source repositories
    assert src_kinds == {
        ("GET", "ping", 200): 1,
        ("HEAD", "manifests", 200): 8,
        ("GET", "tags", 200): 6,
    }
    assert dst_kinds == {("GET", "ping", 200): 1, ("HEAD", "manifests", 200): 16}
    heads = [e.path for e in on_src if e.method == "HEAD"]
    assert len(set(heads)) == 8 and f"/v2/eco/pin/manifests/{pin.digest}" in heads
    assert len({e.path for e in on_dst if e.method == "HEAD"}) == 16
    # nothing learnt, nothing re-checked: the state dir's cache is not rewritten
    again = (hangard.state_dir / "subset-cache.json").stat()
    assert (again.st_ino, again.st_mtime_ns) == (cache.st_ino, cache.st_mtime_ns)


def test_schema1_source_is_in_sync_after_its_conversion(
    hangard: Hangard, schema1_registry: Registry, plain_registry: Registry, tmp_path: Path
) -> None:
    """A schema1 source lands as its schema2 conversion, whose digest differs.
    The conversion is remembered in the state dir, so the next sync sees the
    item in sync with manifest HEADs only: no re-conversion, no blob reads."""
    src, dst = schema1_registry, plain_registry
    legacy = images.push_schema1_image(src, "old/app", seed=71, layer_count=2)
    config = write_config(
        tmp_path / "hangard.yaml",
        plain(src, dst),
        {"m": dst},
        [{"source": f"{src.host}/old/app", "tags": [legacy.tag]}],
    )
    args = ["sync", "--once", "--no-progress", str(config)]

    first = hangard(*args)
    assert first.code == 0, first.err
    assert summary(first) == (1, 0, 0, 0)
    converted = json.loads(images.get_manifest_raw(dst, "old/app", legacy.tag))
    assert converted["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    src_seen, dst_seen = len(src.access_log()), len(dst.access_log())

    second = hangard(*args)

    assert second.code == 0, second.err
    assert summary(second) == (0, 1, 0, 0)
    src_kinds = Counter((e.method, kind(e)) for e in requests_since(src, src_seen))
    dst_kinds = Counter((e.method, kind(e)) for e in requests_since(dst, dst_seen))
    assert src_kinds == {("GET", "ping"): 1, ("HEAD", "manifests"): 1}
    assert dst_kinds == {("GET", "ping"): 1, ("HEAD", "manifests"): 1}


# ------------------------------------------------------------ the library
async def test_concurrent_executes_with_shared_locks_push_each_manifest_once(
    tmp_path: Path,
    tmp_authfile: AuthFiles,
    client: RegistryClient,
    plain_registry: Registry,
    plain_registry2: Registry,
) -> None:
    src, dst = plain_registry, plain_registry2
    index = images.push_oci_index(src, "lock/multi", "v1", seed=40)
    single = images.push_oci_image(src, "lock/single", "v1", seed=41)
    config = write_config(
        tmp_path / "hangard.yaml",
        plain(src, dst),
        {"m": dst},
        [
            {"source": f"{src.host}/lock/multi", "tags": ["v1"]},
            {"source": f"{src.host}/lock/single", "tags": ["v1"]},
        ],
    )
    state = load_config(config).state
    planned = await observe_and_plan(client, state)
    plan, items = planned.plan, planned.items
    assert [a.kind for a in plan.actions] == [ActionKind.COPY, ActionKind.COPY]
    assert not planned.problems
    locks, session = KeyLocks(), TransferSession(client)
    seen = len(dst.access_log())

    reports = await asyncio.gather(
        execute(client, plan, locks=locks, copier=Copier(client, session)),
        execute(client, plan, locks=locks, copier=Copier(client, session)),
    )

    assert all(r.ok and r.count(ItemOutcome.FAILED) == 0 for r in reports)
    for item in items:
        copies = [r.copy for report in reports for r in report.results if r.key == item.key]
        assert len(copies) == 2 and all(c is not None for c in copies)
        # one did the work; the other, let in after it, found the target up to date
        assert sorted(c.up_to_date for c in copies if c) == [False, True]
        pushed = 1 + len(index.children) if item.image.endswith("/lock/multi") else 1
        assert sum(c.manifests_pushed for c in copies if c) == pushed
    puts = Counter(
        e.path for e in requests_since(dst, seen) if e.method == "PUT" and "/manifests/" in e.path
    )
    assert puts["/v2/lock/multi/manifests/v1"] == 1 and puts["/v2/lock/single/manifests/v1"] == 1
    assert max(puts.values()) == 1
    assert images.get_manifest_raw(dst, "lock/multi", "v1") == index.manifest
    assert images.get_manifest_raw(dst, "lock/single", "v1") == single.manifest


async def test_an_unreachable_target_fails_alone(
    tmp_path: Path, tmp_authfile: AuthFiles, plain_registry: Registry, plain_registry2: Registry
) -> None:
    src, dst = plain_registry, plain_registry2
    down = f"127.0.0.1:{free_port()}"  # nothing listens there
    app = images.push_oci_image(src, "reach/app", "v1", seed=50)
    path = tmp_path / "hangard.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "registries": {h: {"http": True} for h in (src.host, dst.host, down)},
                "targets": {"up": {"registry": dst.host}, "down": {"registry": down}},
                "defaults": {"targets": ["up", "down"]},
                "images": [
                    {"source": f"{src.host}/reach/app", "tags": ["v1"]},
                    {"source": f"{down}/gone/app", "tags": ["v1"], "targets": ["up"]},
                ],
            }
        )
    )
    state = load_config(path).state
    options = ClientOptions(
        registries={h: RegistryOptions(http=True) for h in (src.host, dst.host, down)},
        backoff_base=0.01,
        backoff_cap=0.05,
    )
    results: list[ItemResult] = []

    class Collect(CycleHooks):
        def item_finished(self, result: ItemResult) -> None:
            results.append(result)

    failed = tmp_path / "failed.txt"
    async with RegistryClient(options, CredentialStore(environ={})) as client:
        done = await run_cycle(
            client, state, cache=DigestCache(), failed_path=failed, hooks=Collect()
        )
    plan, report = done.planned.plan, done.report

    actions = {(a.item.image, a.item.target): a for a in plan.actions}
    assert actions[(f"{src.host}/reach/app", "up")].kind is ActionKind.COPY
    for key in [(f"{src.host}/reach/app", "down"), (f"{down}/gone/app", "up")]:
        assert actions[key].kind is ActionKind.ERROR
        assert "connection failed" in actions[key].cause and down in actions[key].cause
    outcomes = {(r.action.item.image, r.action.item.target): r.outcome for r in report.results}
    assert outcomes == {
        (f"{src.host}/reach/app", "up"): ItemOutcome.COPIED,
        (f"{src.host}/reach/app", "down"): ItemOutcome.FAILED,
        (f"{down}/gone/app", "up"): ItemOutcome.FAILED,
    }
    assert {r.reason for r in report.failed} == {"network"}
    assert not report.ok and report.bytes_moved > 0 and len(results) == 3
    assert images.get_manifest_raw(dst, "reach/app", "v1") == app.manifest
    assert done.failed_listed == 2
    assert write_failed_list(tmp_path / "again.txt", report.results) == 2
    assert failed.read_text().splitlines()[1:] == [
        f"# target: down ({down})",
        # the source was observed, so the retry is pinned to that digest
        f"{src.host}/reach/app reach/app v1@{app.digest}",
        f"# target: up ({dst.host})",
        f"{down}/gone/app gone/app v1",
    ]


def test_failed_list_falls_back_to_the_working_directory(
    tmp_path: Path, hangard: Hangard, plain_registry: Registry, basic_registry: Registry
) -> None:
    """A one-off run whose state dir is unusable (here: a regular file, which
    defeats even root) still writes its failed list, in the working
    directory."""
    images.push_oci_image(plain_registry, "lib/app", "v1", seed=91)
    config = write_config(
        tmp_path / "hangard.yaml",
        plain(plain_registry, basic_registry),  # no credentials for the target
        {"m": basic_registry},
        [{"source": f"{plain_registry.host}/lib/app", "tags": ["v1"]}],
    )
    not_a_dir = tmp_path / "state-is-a-file"
    not_a_dir.write_text("")
    hangard.env["HANGARD_STATE_DIR"] = str(not_a_dir)

    run = hangard("sync", "--once", "--no-progress", str(config))

    assert run.code == 1, run.err
    listed = (hangard.cwd / "hangard-failed.txt").read_text()
    assert f"{plain_registry.host}/lib/app lib/app v1@" in listed


# --- one source tag, one target, two destinations (issue 9, item 13) -----------
def test_one_tag_to_two_destinations_on_one_target_copies_both(
    tmp_path: Path, hangard: Hangard, plain_registry: Registry, plain_registry2: Registry
) -> None:
    """Two entries send ``app:v1`` to target ``m`` as ``a/app`` and
    ``b/app``: both are planned and both exist afterwards (the planner used
    to key items by (image, tag, target) and keep one)."""
    src, dst = plain_registry, plain_registry2
    image = images.push_oci_image(src, "lib/app", "v1", seed=41)
    config = write_config(
        tmp_path / "hangard.yaml",
        plain(src, dst),
        {"m": dst},
        [
            {"source": f"{src.host}/lib/app", "tags": ["v1"], "destination": "a/app"},
            {"source": f"{src.host}/lib/app", "tags": ["v1"], "destination": "b/app"},
        ],
    )
    assert hangard("validate", str(config)).code == 0

    plan = hangard("plan", "-o", "json", str(config))
    doc = json.loads(plan.out)
    assert sorted(a["destination"] for a in doc["actions"]) == [
        f"{dst.host}/a/app:v1",
        f"{dst.host}/b/app:v1",
    ]
    assert {a["action"] for a in doc["actions"]} == {"copy"}

    run = hangard("sync", "--once", "--no-progress", str(config))

    assert run.code == 0, run.err
    assert summary(run) == (2, 0, 0, 0)
    for repo in ("a/app", "b/app"):
        assert images.get_manifest_raw(dst, repo, "v1") == image.manifest, repo
    again = hangard("sync", "--once", "--no-progress", str(config))
    assert summary(again) == (0, 2, 0, 0)


def sync_events(run: Run) -> list[dict[str, Any]]:
    return [json.loads(line) for line in run.err.splitlines() if line.startswith("{")]


def test_a_drift_repair_is_logged_as_repaired_with_both_digests(
    tmp_path: Path, hangard: Hangard, plain_registry: Registry, plain_registry2: Registry
) -> None:
    """Issue 9 item 12: a target that drifted is copied again, and the event
    says so with the digest it had and the one it has now."""
    src, dst = plain_registry, plain_registry2
    wanted = images.push_oci_image(src, "drift/app", "v1", seed=61)
    stale = images.push_oci_image(dst, "drift/app", "v1", seed=62)
    config = write_config(
        tmp_path / "hangard.yaml",
        plain(src, dst),
        {"m": dst},
        [{"source": f"{src.host}/drift/app", "tags": ["v1"]}],
    )

    run = hangard("sync", "--once", "--no-progress", str(config))

    assert run.code == 0, run.err
    assert summary(run) == (1, 0, 0, 0)
    (repaired,) = [e for e in sync_events(run) if e["event"] == "repaired"]
    assert (repaired["previous_digest"], repaired["target_digest"]) == (
        stale.digest,
        wanted.digest,
    )
    assert repaired["tag"] == "v1" and repaired["target"] == "m"
    assert images.get_manifest_raw(dst, "drift/app", "v1") == wanted.manifest


def test_no_matching_platform_is_a_skip_logged_as_a_warning(
    tmp_path: Path, hangard: Hangard, plain_registry: Registry, plain_registry2: Registry
) -> None:
    """Issue 9 item 11: "no matching platform" stays a skip (exit 0), and it
    is one warning event naming the item, with a hint."""
    src, dst = plain_registry, plain_registry2
    images.push_oci_image(src, "plat/app", "v1", seed=63, architecture="amd64")
    config = write_config(
        tmp_path / "hangard.yaml",
        plain(src, dst),
        {"m": dst},
        [{"source": f"{src.host}/plat/app", "tags": ["v1"], "platforms": ["linux/s390x"]}],
    )

    run = hangard("sync", "--once", "--no-progress", str(config))

    assert run.code == 0, run.err
    assert summary(run) == (0, 0, 0, 1)
    (skipped,) = [e for e in sync_events(run) if e["event"] == "item skipped"]
    assert skipped["level"] == "warning"
    assert (skipped["tag"], skipped["target"]) == ("v1", "m")
    assert "platform" in skipped["reason"] and "platforms" in skipped["hint"]
    assert not images.manifest_exists(dst, "plat/app", "v1")
