"""The daemon's state file: :class:`hangard.daemon.history.History`."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from hangard.copy import CopyResult
from hangard.core.attachments import Attachment, AttachmentKind, AttachmentState
from hangard.core.plan import Action, ActionKind, Observation, Plan, SyncItem, make_plan
from hangard.core.reference import parse_reference
from hangard.daemon.history import History, ItemHistory
from hangard.daemon.metrics import Metrics
from hangard.daemon.recorder import Recorder
from hangard.errors import AuthError, HangardError, Reason
from hangard.sync import ItemOutcome, ItemResult, Planned

OLD = "sha256:" + "a" * 64
NEW = "sha256:" + "b" * 64
NOW = 1_700_000_000.0


def exposed(metrics: Metrics, name: str, labels: dict[str, str]) -> float | None:
    """The sample as /metrics exposes it."""
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return None


def sync_item(repo: str = "app/web", tag: str = "1") -> SyncItem:
    return SyncItem(
        image=f"src.example/{repo}",
        tag=tag,
        target="mirror",
        source=parse_reference(f"src.example/{repo}:{tag}"),
        destination=parse_reference(f"dst.example/mirror/{repo}:{tag}"),
    )


def action(obs: Observation, item: SyncItem | None = None) -> Action:
    item = item or sync_item()
    (only,) = make_plan([item], {item.key: obs}).actions
    return only


def copied(act: Action, digest: str = NEW) -> ItemResult:
    item = act.item
    assert isinstance(item, SyncItem)
    copy = CopyResult(str(item.source), str(item.destination), digest, digest, "m")
    return ItemResult(act, ItemOutcome.COPIED, copy=copy)


def failed(act: Action, reason: Reason | None = Reason.NETWORK) -> ItemResult:
    """A failure with ``reason`` (``None``: a failure without an error)."""
    if reason is None:
        return ItemResult(act, ItemOutcome.FAILED)
    failure = HangardError("connection refused")
    failure.reason = reason
    return ItemResult(act, ItemOutcome.FAILED, failure=failure)


def store_with_history(path: Path | None) -> History:
    store = History(path)
    store.observed(action(Observation(NEW, NEW)), now=NOW)
    drifted = action(Observation(NEW, OLD), sync_item("app/api"))
    store.observed(drifted, now=NOW)
    store.finished(failed(drifted), now=NOW + 1)
    store.observed(action(Observation(None, None), sync_item("app/gone")), now=NOW)
    return store


# ------------------------------------------------------------- persistence
def test_save_then_load_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "state" / "state.json"
    store = store_with_history(path)
    store.save()

    loaded = History.load(path)
    assert loaded.items == store.items
    assert loaded.status() == store.status()
    doc = json.loads(path.read_text())
    assert doc["version"] == 1
    assert [i["image"] for i in doc["items"]] == sorted(i["image"] for i in doc["items"])
    assert sorted(p.name for p in path.parent.iterdir()) == ["state.json"]


@pytest.mark.parametrize(
    ("written", "loaded"),
    [
        ("unauthorized", Reason.UNAUTHORIZED),
        ("network", Reason.NETWORK),
        ("gremlins", Reason.OTHER),  # a label from another hangard version
        (42, Reason.OTHER),
        (None, None),
    ],
)
def test_the_last_error_reason_loads_back_as_a_reason(
    tmp_path: Path, written: object, loaded: Reason | None
) -> None:
    path = tmp_path / "state.json"
    store = History(path)
    store.finished(failed(action(Observation(NEW, None))), now=NOW)
    store.save()
    doc = json.loads(path.read_text())
    assert doc["items"][0]["last_error_reason"] == "network"
    doc["items"][0]["last_error_reason"] = written
    path.write_text(json.dumps(doc))

    (item,) = History.load(path).items.values()
    assert item.last_error_reason == loaded
    assert item.last_error_reason is None or type(item.last_error_reason) is Reason


def test_save_replaces_the_file_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "state.json"
    store_with_history(path).save()
    before = path.read_text()

    def broken_fsync(_fd: int) -> None:
        raise OSError("disk full")

    changed = History(path)
    changed.observed(action(Observation(OLD, None), sync_item("app/other")), now=NOW)
    # the temporary file is written when the disk gives up
    monkeypatch.setattr("hangard.atomicfile.os.fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        changed.save()
    # the old file is whole and no temporary file is left behind
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_a_store_without_a_path_neither_reads_nor_writes(tmp_path: Path) -> None:
    store = store_with_history(None)
    store.save()
    assert History.load(None).items == {}
    assert list(tmp_path.iterdir()) == []


def test_a_missing_file_is_an_empty_store_without_a_warning(tmp_path: Path) -> None:
    with capture_logs() as logs:
        store = History.load(tmp_path / "absent.json")
    assert store.items == {} and logs == []


@pytest.mark.parametrize(
    "content",
    [
        pytest.param("{not json", id="not-json"),
        pytest.param("", id="empty"),
        pytest.param("[]", id="a-list"),
        pytest.param('"text"', id="a-string"),
        pytest.param('{"items": null}', id="items-null"),
        pytest.param('{"items": [1, 2]}', id="items-not-objects"),
        pytest.param('{"items": [{"image": "x"}]}', id="item-missing-fields"),
        pytest.param(
            '{"items": [{"image": "a", "tag": "1", "target": "m"}, {"tag": "2"}]}',
            id="second-item-damaged",
        ),
    ],
)
def test_a_damaged_file_is_an_empty_store_with_a_warning(tmp_path: Path, content: str) -> None:
    path = tmp_path / "state.json"
    path.write_text(content)
    with capture_logs() as logs:
        store = History.load(path)
    assert store.items == {}
    assert [(e["log_level"], e["event"]) for e in logs] == [
        ("warning", "state file unreadable; starting empty")
    ]
    assert logs[0]["path"] == str(path)
    # and the next save writes a good file over it
    store.observed(action(Observation(NEW, NEW)), now=NOW)
    store.save()
    assert list(History.load(path).items) == [sync_item().key]


def test_unknown_fields_from_a_newer_version_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    raw = {"image": "a", "tag": "1", "target": "m", "in_sync": True, "shiny_new_field": 3}
    path.write_text(json.dumps({"version": 2, "items": [raw]}))
    store = History.load(path)
    assert store.items == {("a", "1", "m", ""): ItemHistory("a", "1", "m", in_sync=True)}


# ------------------------------------------------------------- transitions
def test_observed_in_sync() -> None:
    store = History(None)
    state = store.observed(action(Observation(NEW, NEW)), now=NOW)
    assert (state.in_sync, state.drift, state.missing) == (True, False, False)
    assert state.source_digest == state.target_digest == state.desired_digest == NEW
    assert state.last_success == NOW
    assert state.destination == "dst.example/mirror/app/web:1"


def test_observed_drift_then_copied() -> None:
    store = History(None)
    act = action(Observation(NEW, OLD))
    state = store.observed(act, now=NOW)
    assert (state.in_sync, state.drift, state.missing) == (False, True, False)
    assert state.last_success is None and state.target_digest == OLD

    state = store.finished(copied(act), now=NOW + 5)
    assert (state.in_sync, state.drift, state.missing) == (True, False, False)
    assert state.target_digest == NEW
    assert state.last_success == state.last_attempt == NOW + 5


def test_observed_missing() -> None:
    state = History(None).observed(action(Observation(NEW, None)))
    assert (state.in_sync, state.drift, state.missing) == (False, False, True)


def test_observed_source_missing_is_a_skip_and_keeps_the_failure_count() -> None:
    store = History(None)
    act = action(Observation(NEW, None))
    store.observed(act, now=NOW)
    store.finished(failed(act), now=NOW)
    vanished = dataclasses.replace(sync_item(), explicit=False)  # a pattern tag, gone
    skip = action(Observation(None, None), vanished)
    assert skip.kind is ActionKind.SKIP
    state = store.observed(skip, now=NOW + 1)
    store.finished(ItemResult(skip, ItemOutcome.SKIPPED), now=NOW + 1)
    assert (state.in_sync, state.missing, state.source_digest) == (False, True, None)
    assert state.consecutive_failures == 1


def test_failures_count_up_and_a_success_resets_them() -> None:
    store = History(None)
    error = action(Observation(error=AuthError("401")))
    assert error.kind is ActionKind.ERROR
    for attempt in range(1, 4):
        state = store.observed(error, now=NOW + attempt)
        assert (state.in_sync, state.drift, state.missing) == (False, False, False)
        state = store.finished(failed(error, reason=Reason.UNAUTHORIZED), now=NOW + attempt)
        assert state.consecutive_failures == attempt
        assert state.last_error_reason is Reason.UNAUTHORIZED
        assert state.last_attempt == NOW + attempt
    assert store.finished(failed(error, reason=None)).last_error_reason is Reason.OTHER

    state = store.observed(action(Observation(NEW, NEW)), now=NOW + 10)
    assert state.in_sync and state.consecutive_failures == 0
    assert state.last_error is None and state.last_error_reason is None


def test_a_failed_copy_after_being_in_sync_is_out_of_sync() -> None:
    store = History(None)
    store.observed(action(Observation(NEW, NEW)), now=NOW)
    act = action(Observation(NEW, OLD))
    store.observed(act, now=NOW + 1)
    state = store.finished(failed(act), now=NOW + 2)
    assert not state.in_sync and state.consecutive_failures == 1
    assert state.last_success == NOW


def test_keep_only_and_status() -> None:
    store = store_with_history(None)
    assert len(store.items) == 3
    keep = sync_item().key
    store.keep_only([keep, ("never", "seen", "x", "")])
    assert list(store.items) == [keep]
    items = store.status()["items"]
    assert isinstance(items, list)
    (only,) = items
    assert (only["image"], only["tag"], only["target"], only["destination"]) == keep


# --- the daemon's failed list (issue 9, item 14) ---------------------------------
def test_the_failed_list_holds_every_failing_item_whatever_its_schedule(tmp_path: Path) -> None:
    """A clean cycle of one schedule must not delete the list while another
    schedule's items still fail (today the last cycle's report wrote it)."""
    from hangard.daemon.metrics import Metrics
    from hangard.daemon.recorder import Recorder
    from hangard.sync import SyncReport, persist

    listed = tmp_path / "failed.txt"
    store = History(None)
    hourly = dataclasses.replace(sync_item("app/hourly"), schedule="1h")
    act = action(Observation(NEW, None), hourly)
    store.observed(act, now=NOW)
    store.finished(failed(act), now=NOW)

    fast = Recorder(
        store,
        Metrics(),
        complete=False,
        schedules=frozenset({"15m"}),
        failed_path=listed,
        targets={"mirror": "dst.example"},
    )
    fast.finished(SyncReport(results=(), duration=0.0, bytes_moved=0))  # a clean 15m cycle
    assert persist(fast.saves()) == ()
    assert listed.read_text().splitlines()[1:] == [
        "# target: mirror (dst.example)",
        f"src.example/app/hourly mirror/app/hourly 1@{NEW}",
    ]

    store.finished(copied(act), now=NOW + 1)
    assert persist(fast.saves()) == ()
    assert not listed.exists()  # nothing fails any more


def test_a_failed_list_with_one_image_failing_on_two_targets_reads_back() -> None:
    """Today the same line under two targets gives "goes to target 'dst'
    twice" when the file is used as a ``list:`` entry with those targets."""
    from hangard.config.hangarlist import parse_hangar_list
    from hangard.sync.failed import render_entries

    line = ("src.example/app", "mirror/app", f"1@{NEW}")
    lines = render_entries([("a", "a.example", *line), ("b", "b.example", *line)])
    assert lines == [
        "# target: a (a.example)",
        f"src.example/app mirror/app 1@{NEW}  # also failed on: b",
    ]
    parsed = parse_hangar_list("\n".join(lines) + "\n", "failed.txt")
    assert parsed.problems == [] and len(parsed.lines) == 1


# --- one source tag, one target, two destinations (issue 9, item 13) ---------------
def two_destinations() -> tuple[SyncItem, SyncItem]:
    a, b = (
        dataclasses.replace(
            sync_item(), destination=parse_reference(f"dst.example/{where}/app/web:1")
        )
        for where in ("a", "b")
    )
    return a, b


def test_items_differing_only_by_destination_round_trip_apart(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    store = History(path)
    a, b = two_destinations()
    store.observed(action(Observation(NEW, NEW), a), now=NOW)
    act = action(Observation(NEW, None), b)
    store.observed(act, now=NOW)
    store.finished(failed(act), now=NOW + 1)
    store.save()

    loaded = History.load(path)
    assert sorted(loaded.items) == sorted([a.key, b.key])
    assert loaded.items[a.key].in_sync and loaded.items[a.key].last_error_reason is None
    assert loaded.items[b.key].last_error_reason is Reason.NETWORK
    assert [(e[3], e[4]) for e in loaded.failing({"mirror": "dst.example"})] == [
        ("b/app/web", f"1@{NEW}")
    ]
    status = loaded.status()["items"]
    assert isinstance(status, list)
    assert [s["destination"] for s in status] == [str(a.destination), str(b.destination)]


def test_an_item_saved_without_a_destination_is_adopted(tmp_path: Path) -> None:
    """A state file whose item has no destination keeps its history when
    the item is next seen (it is keyed by its destination from then on)."""
    path = tmp_path / "state.json"
    raw = {"image": "src.example/app/web", "tag": "1", "target": "mirror", "last_success": NOW}
    path.write_text(json.dumps({"version": 1, "items": [raw]}))
    store = History.load(path)
    item = sync_item()
    state = store.observed(action(Observation(NEW, OLD), item), now=NOW + 5)
    assert list(store.items) == [item.key]
    assert state.last_success == NOW and state.destination == str(item.destination)


def test_metrics_of_two_destinations_aggregate_under_one_label_set() -> None:
    """The metrics keep (image, tag, target): in sync only when both are,
    missing and the failure streak when either is, the oldest success."""
    metrics = Metrics()
    store = History(None)
    recorder = Recorder(store, metrics, complete=True)
    a, b = two_destinations()
    labels = {"image": a.image, "tag": a.tag, "target": a.target}

    def value(name: str) -> float | None:
        return exposed(metrics, name, labels)

    obs = {a.key: Observation(NEW, NEW), b.key: Observation(NEW, None)}
    plan = make_plan([a, b], obs)
    store.observed(plan.actions[0], now=NOW)  # a: in sync, seen earlier
    recorder.planned(_planned(plan, [a, b]))
    assert value("hangard_image_in_sync") == 0
    assert value("hangard_image_missing") == 1
    recorder.item_finished(failed(plan.actions[1]))
    assert value("hangard_copy_consecutive_failures") == 1
    assert value("hangard_image_last_success_timestamp_seconds") is not None
    recorder.item_finished(copied(plan.actions[1]))
    assert value("hangard_image_in_sync") == 1
    assert value("hangard_image_missing") == 0
    assert value("hangard_copy_consecutive_failures") == 0
    assert metrics.registry.get_sample_value("hangard_desired_images") == 2


def _planned(plan: Plan, items: list[SyncItem]) -> Planned:
    return Planned(plan, items, [])


def test_missing_attachments_are_a_gauge_and_the_image_stays_in_sync() -> None:
    """An image in sync whose source has a new signature: in sync all the
    same, ``hangard_attachments_missing`` counts it until it is copied."""
    metrics = Metrics()
    store = History(None)
    recorder = Recorder(store, metrics, complete=True)
    item = sync_item()
    labels = {"image": item.image, "tag": item.tag, "target": item.target}
    sig = Attachment("sha256-" + "a" * 64 + ".sig", NEW, AttachmentKind.COSIGN, digest=OLD)
    state = AttachmentState(found=(sig,), missing=(sig,))
    plan = make_plan([item], {item.key: Observation(NEW, NEW, attachments=state)})
    assert plan.actions[0].describe() == "copy (attachments: 1 missing)"

    recorder.planned(_planned(plan, [item]))
    assert exposed(metrics, "hangard_attachments_missing", labels) == 1
    assert exposed(metrics, "hangard_image_in_sync", labels) == 1
    recorder.item_finished(copied(plan.actions[0]))
    assert exposed(metrics, "hangard_attachments_missing", labels) == 0


def test_last_cycles_per_schedule_survive_a_restart(tmp_path: Path) -> None:
    """``hangard status`` right after a restart shows each schedule's last
    cycle from the state file."""
    path = tmp_path / "state.json"
    store = History(path)
    store.cycle_finished(["15m", "1h"], ok=True, duration=2.5, now=NOW)
    store.cycle_finished(["15m"], ok=False, duration=4.0, now=NOW + 900)
    store.save()

    loaded = History.load(path)
    fifteen = loaded.schedule_status("15m", next_run=NOW + 1800, running=False)
    assert fifteen == {
        "schedule": "15m",
        "running": False,
        "last_cycle_finished_at": NOW + 900,
        "last_cycle_finished_at_rfc3339": "2023-11-14T22:28:20.000Z",
        "last_cycle_result": "failure",
        "last_cycle_duration_seconds": 4.0,
        "last_good_cycle": NOW,
        "last_good_cycle_rfc3339": "2023-11-14T22:13:20.000Z",
        "next_run": NOW + 1800,
        "next_run_rfc3339": "2023-11-14T22:43:20.000Z",
    }
    hour = loaded.schedule_status("1h", next_run=None, running=True)
    assert (hour["last_cycle_result"], hour["next_run_rfc3339"], hour["running"]) == (
        "success",
        None,
        True,
    )
    never = loaded.schedule_status("@daily", next_run=None, running=False)
    assert never["last_cycle_finished_at"] is None and never["last_cycle_result"] is None


def test_a_last_cycle_record_of_another_shape_is_dropped_alone(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    record = {"finished_at": NOW, "ok": True, "duration_seconds": 1.5, "from_a_newer_hangard": 1}
    path.write_text(
        json.dumps({"version": 1, "items": [], "last_cycles": {"15m": record, "1h": "?"}})
    )
    loaded = History.load(path)
    assert set(loaded.last_cycles) == {"15m"}
    assert loaded.last_cycles["15m"].duration_seconds == 1.5
