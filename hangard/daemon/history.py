"""The daemon's item history: what it last saw and did for every item
(image, tag, target, destination), kept in ``state.json`` in the state dir, written atomically,
so metrics and ``/status`` are meaningful right after a restart. (What the
items *should* be is the desired state, :mod:`hangard.core.desired`.)"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import structlog

from hangard.atomicfile import write_atomic
from hangard.core.plan import Action, ActionKind, ItemKey, LabelKey
from hangard.core.reference import parse_reference
from hangard.core.timestamps import with_rfc3339
from hangard.errors import Reason
from hangard.sync.execution import ItemOutcome, ItemResult
from hangard.sync.failed import FailedEntry

__all__ = ["CycleRecord", "History", "ItemHistory"]

log = structlog.get_logger("hangard.state")

STATE_VERSION = 1
ITEM_TIMES = ("last_attempt", "last_success")
SCHEDULE_TIMES = ("last_cycle_finished_at", "last_good_cycle", "next_run")


@dataclass
class ItemHistory:
    image: str
    tag: str
    target: str
    destination: str = ""
    source_digest: str | None = None
    target_digest: str | None = None
    desired_digest: str | None = None
    in_sync: bool = False
    drift: bool = False
    missing: bool = False
    last_attempt: float | None = None
    last_success: float | None = None
    last_error: str | None = None
    last_error_reason: Reason | None = None
    consecutive_failures: int = 0

    @property
    def key(self) -> ItemKey:
        return (self.image, self.tag, self.target, self.destination)

    @property
    def labels(self) -> LabelKey:
        """The metrics labels: items differing only by destination share them."""
        return (self.image, self.tag, self.target)


@dataclass
class CycleRecord:
    """How one schedule's last cycle went."""

    finished_at: float
    ok: bool
    duration_seconds: float


@dataclass
class History:
    path: Path | None
    items: dict[ItemKey, ItemHistory] = field(default_factory=dict)
    last_good_cycle: float | None = None
    """The latest good cycle of any schedule."""
    last_good_cycles: dict[str, float] = field(default_factory=dict)
    """Per schedule: when a cycle of it last finished without failures."""
    last_cycles: dict[str, CycleRecord] = field(default_factory=dict)
    """Per schedule: how its last cycle, good or not, went."""
    _groups: dict[LabelKey, list[ItemKey]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _grouped: tuple[int, int] = field(default=(0, -1), init=False, repr=False, compare=False)
    """Which ``items`` (its id and size) :attr:`_groups` was built from."""

    @classmethod
    def load(cls, path: Path | None) -> History:
        store = cls(path)
        if path is None or not path.exists():
            return store
        try:
            doc = json.loads(path.read_text())
            names = {f.name for f in fields(ItemHistory)}
            items: dict[ItemKey, ItemHistory] = {}
            for raw in doc.get("items", []):
                item = ItemHistory(**{k: v for k, v in raw.items() if k in names})
                if item.last_error_reason is not None:
                    # a label this hangard does not know still counts as a failure
                    item.last_error_reason = Reason.parse(item.last_error_reason)
                items[item.key] = item
            good = doc.get("last_good_cycle")
            store.items = items  # all or nothing
            store.last_good_cycle = float(good) if isinstance(good, int | float) else None
            per = doc.get("last_good_cycles")
            if isinstance(per, dict):
                store.last_good_cycles = {
                    str(k): float(v) for k, v in per.items() if isinstance(v, int | float)
                }
            store.last_cycles = _cycle_records(doc.get("last_cycles"))
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            # a damaged state file costs history, never the service (valid
            # JSON of the wrong shape raises AttributeError or TypeError)
            log.warning("state file unreadable; starting empty", path=str(path), error=str(exc))
        return store

    def save(self) -> None:
        if self.path is None:
            return
        doc = {
            "version": STATE_VERSION,
            "saved_at": time.time(),
            "last_good_cycle": self.last_good_cycle,
            "last_good_cycles": dict(sorted(self.last_good_cycles.items())),
            "last_cycles": {k: asdict(v) for k, v in sorted(self.last_cycles.items())},
            "items": self._rows(),
        }
        # no indent: json's C encoder only serves compact output (10,000
        # items: 0.05 s instead of 0.5 s per cycle)
        write_atomic(self.path, json.dumps(doc))

    def good_cycle(self, schedules: Iterable[str], now: float | None = None) -> None:
        """A cycle of ``schedules`` finished without failures."""
        now = time.time() if now is None else now
        self.last_good_cycle = now
        for schedule in schedules:
            self.last_good_cycles[schedule] = now

    def cycle_finished(
        self, schedules: Iterable[str], *, ok: bool, duration: float, now: float | None = None
    ) -> None:
        """A cycle of ``schedules`` ended, with failures unless ``ok``."""
        now = time.time() if now is None else now
        for schedule in schedules:
            self.last_cycles[schedule] = CycleRecord(now, ok, duration)
        if ok:
            self.good_cycle(schedules, now)

    def _item(self, action: Action) -> ItemHistory:
        key = action.key
        state = self.items.get(key)
        if state is None:
            # a state file written before items had a destination holds it
            # under no destination: adopt it rather than start afresh
            legacy = (*key[:3], "")
            if key[3] and key[1] != "*" and legacy in self.items:
                state = self.items.pop(legacy)
                state.destination = key[3]
            else:
                state = ItemHistory(*key)
            grouped = self._grouped == (id(self.items), len(self.items))
            self.items[key] = state
            if grouped:  # keep the groups (rebuilding them per new item is quadratic)
                self._groups.setdefault(state.labels, []).append(key)
                self._grouped = (id(self.items), len(self.items))
            else:
                self._grouped = (0, -1)
        return state

    def same_labels(self, labels: LabelKey) -> list[ItemHistory]:
        """The items whose metrics share ``labels`` (one per destination)."""
        if self._grouped != (id(self.items), len(self.items)):
            self._groups = {}
            for key, item in self.items.items():
                self._groups.setdefault(item.labels, []).append(key)
            self._grouped = (id(self.items), len(self.items))
        return [self.items[k] for k in self._groups.get(labels, ()) if k in self.items]

    def keep_only(self, keys: Iterable[ItemKey]) -> None:
        wanted = set(keys)
        for key in list(self.items):
            if key not in wanted:
                del self.items[key]
        self._grouped = (0, -1)

    def observed(self, action: Action, now: float | None = None) -> ItemHistory:
        """Record what the plan saw for an item."""
        now = time.time() if now is None else now
        state = self._item(action)
        state.source_digest = action.source_digest
        state.target_digest = action.target_digest
        state.desired_digest = action.desired_digest or action.source_digest
        # an explicit tag gone from the source was observed all the same
        observed = action.kind is not ActionKind.ERROR or action.reason is Reason.NOT_FOUND
        state.missing = observed and action.target_digest is None
        state.drift = action.kind is ActionKind.COPY and action.cause == "drift"
        # the image itself is in sync when only attachments are to be copied
        # (hangard_attachments_missing counts those)
        state.in_sync = action.kind is ActionKind.IN_SYNC or action.cause.startswith("attachments:")
        if state.in_sync:
            state.last_success = now
            state.consecutive_failures = 0
            state.last_error = None
            state.last_error_reason = None
        return state

    def finished(self, result: ItemResult, now: float | None = None) -> ItemHistory:
        """Record the outcome of executing an item's action."""
        now = time.time() if now is None else now
        state = self._item(result.action)
        if result.outcome is ItemOutcome.COPIED or (
            result.outcome is ItemOutcome.IN_SYNC and result.copy is not None
        ):
            state.last_attempt = now
            state.last_success = now
            state.target_digest = result.target_digest
            state.in_sync, state.drift, state.missing = True, False, False
            state.consecutive_failures = 0
            state.last_error = state.last_error_reason = None
        elif result.outcome is ItemOutcome.FAILED:
            state.last_attempt = now
            state.consecutive_failures += 1
            state.last_error = result.error
            state.last_error_reason = result.reason or Reason.OTHER
            state.in_sync = False
        return state

    def failing(self, targets: dict[str, str]) -> list[FailedEntry]:
        """Every item failing now, whatever its schedule, as failed-list
        entries; ``targets`` maps a target name to its registry (items of
        targets no longer configured are left out, as are entries whose tags
        could not be listed: they have no line to retry)."""
        entries = []
        for item in sorted(self.items.values(), key=lambda i: i.key):
            if item.last_error_reason is None or not item.destination:
                continue
            registry = targets.get(item.target)
            if registry is None:
                continue
            dest = parse_reference(item.destination)
            digest = item.source_digest
            tag = f"{item.tag}@{digest}" if digest else item.tag
            entries.append((item.target, registry, item.image, dest.path, tag))
        return entries

    def schedule_status(
        self, schedule: str, *, next_run: float | None, running: bool
    ) -> dict[str, object]:
        """``/status``'s entry for one configured schedule: its last cycle
        (``null`` fields before the first), its last good cycle, whether a
        cycle runs now and when the next one is due (``null`` when none is,
        as while the daemon stops)."""
        last = self.last_cycles.get(schedule)
        doc = {
            "schedule": schedule,
            "running": running,
            "last_cycle_finished_at": last.finished_at if last else None,
            "last_cycle_result": None if last is None else "success" if last.ok else "failure",
            "last_cycle_duration_seconds": last.duration_seconds if last else None,
            "last_good_cycle": self.last_good_cycles.get(schedule),
            "next_run": next_run,
        }
        return with_rfc3339(doc, *SCHEDULE_TIMES)

    def status(self) -> dict[str, object]:
        """``/status``'s items: each field of :class:`ItemHistory`, and its
        times also in RFC 3339."""
        return {"items": [with_rfc3339(row, *ITEM_TIMES) for row in self._rows()]}

    def _rows(self) -> list[dict[str, object]]:
        """Every item as a JSON-ready dict, by key (a flat dataclass: its
        ``__dict__`` is what :func:`dataclasses.asdict` would copy, deeply
        and ten times slower)."""
        return [dict(vars(self.items[k])) for k in sorted(self.items)]


def _cycle_records(raw: object) -> dict[str, CycleRecord]:
    """``last_cycles`` of a state file; a record of another shape is dropped
    (as a newer hangard may write), the rest kept."""
    records: dict[str, CycleRecord] = {}
    if not isinstance(raw, dict):
        return records
    names = {f.name for f in fields(CycleRecord)}
    for schedule, record in raw.items():
        try:
            records[str(schedule)] = CycleRecord(**{k: v for k, v in record.items() if k in names})
        except (TypeError, AttributeError):
            continue
    return records
