"""Execute a plan: copy what is missing or drifted, concurrently, with one
failure never stopping the others. Returns a :class:`SyncReport` value."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from copy import copy as _clone
from dataclasses import dataclass, replace
from enum import StrEnum

import structlog

from hangard.copy import Copier, CopyResult
from hangard.copy.engine import NO_PLATFORM_MATCH, UNKNOWN
from hangard.core.plan import Action, ActionKind, ItemKey, Plan, SyncItem
from hangard.core.transports import ArchiveReference
from hangard.errors import CycleTimeoutError, HangardError, OperationError, Reason
from hangard.registry.client import RegistryClient
from hangard.sync.digestcache import DigestCache

__all__ = ["ItemOutcome", "ItemResult", "KeyLocks", "SyncReport", "execute"]

log = structlog.get_logger("hangard.sync")


def _without_item(error: HangardError) -> HangardError:
    if error.context.item is None:
        return error
    clone = _clone(error)
    clone.context = dataclasses.replace(error.context, item=None)
    return clone


class ItemOutcome(StrEnum):
    COPIED = "copied"
    IN_SYNC = "in-sync"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(frozen=True)
class ItemResult:
    """One item's outcome. For failures everything comes from ``failure``:
    the message (:attr:`error`) and the reason (:attr:`reason`)."""

    action: Action
    outcome: ItemOutcome
    copy: CopyResult | None = None
    duration: float = 0.0
    failure: HangardError | None = None
    """For failures: the error itself, its context naming the item."""

    @property
    def reason(self) -> Reason | None:
        """For failures: the metrics, log and ``/status`` reason (``other``
        for a failure without an error)."""
        if self.outcome is not ItemOutcome.FAILED:
            return None
        return Reason.OTHER if self.failure is None else self.failure.reason

    @property
    def error(self) -> str | None:
        """For failures: the message, for a reader who already knows the
        item (the failure's text without the item in its context)."""
        if self.outcome is not ItemOutcome.FAILED:
            return None
        if self.failure is None:
            return self.action.cause or None
        return str(_without_item(self.failure))

    @property
    def key(self) -> ItemKey:
        return self.action.key

    @property
    def target_digest(self) -> str | None:
        if self.copy is not None and self.copy.target_digest:
            return self.copy.target_digest
        return self.action.target_digest


@dataclass(frozen=True)
class SyncReport:
    results: tuple[ItemResult, ...]
    duration: float
    bytes_moved: int

    def count(self, outcome: ItemOutcome) -> int:
        return sum(1 for r in self.results if r.outcome is outcome)

    @property
    def failed(self) -> list[ItemResult]:
        return [r for r in self.results if r.outcome is ItemOutcome.FAILED]

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary_fields(self) -> dict[str, object]:
        """The counts of the cycle summary event, one field each."""
        return {
            "copied": self.count(ItemOutcome.COPIED),
            "in_sync": self.count(ItemOutcome.IN_SYNC),
            "failed": self.count(ItemOutcome.FAILED),
            "skipped": self.count(ItemOutcome.SKIPPED),
            "bytes": self.bytes_moved,
            "duration_seconds": self.duration,
        }

    def summary_line(self) -> str:
        from hangard.render import human_size

        return (
            f"sync: {self.count(ItemOutcome.COPIED)} copied, "
            f"{self.count(ItemOutcome.IN_SYNC)} in sync, {self.count(ItemOutcome.FAILED)} failed, "
            f"{self.count(ItemOutcome.SKIPPED)} skipped; {human_size(self.bytes_moved)} "
            f"in {self.duration:.1f}s"
        )


class KeyLocks:
    """At most one copy per item (image, tag, target, destination) at a
    time, across jobs."""

    def __init__(self) -> None:
        self._locks: dict[ItemKey, asyncio.Lock] = {}

    def __call__(self, key: ItemKey) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock


ResultHook = Callable[[ItemResult], None]


def item_name(action: Action) -> str:
    """``IMAGE:TAG -> TARGET``: the item an error is about."""
    return f"{action.item.image}:{action.key[1]} -> {action.item.target}"


def _passive(action: Action) -> ItemResult:
    if action.kind is ActionKind.IN_SYNC:
        return ItemResult(action, ItemOutcome.IN_SYNC)
    if action.kind is ActionKind.SKIP:
        return ItemResult(action, ItemOutcome.SKIPPED)
    error = action.error or OperationError(action.cause or "failed")
    return ItemResult(
        action, ItemOutcome.FAILED, failure=error.with_context(item=item_name(action))
    )


def _item_fields(action: Action) -> dict[str, object]:
    item = action.item
    fields: dict[str, object] = {"image": item.image, "tag": action.key[1], "target": item.target}
    if isinstance(item, SyncItem):
        fields["destination"] = str(item.destination)
        fields["schedule"] = item.schedule
    return fields


def log_outcome(result: ItemResult) -> None:
    """One event per failed item (``item failed``, error level) and per
    skipped one (``item skipped``, warning), with image, tag, target,
    reason, message and hint: whatever the stage it failed at."""
    action = result.action
    if result.outcome is ItemOutcome.FAILED:
        failure = result.failure
        log.error(
            "item failed",
            **_item_fields(action),
            stage="copy" if action.kind is ActionKind.COPY else "plan",
            reason=(result.reason or Reason.OTHER).value,
            message=failure.message if failure else result.error,
            hint=failure.remedy if failure else None,
            error=result.error,
            source_digest=action.source_digest,
        )
    elif result.outcome is ItemOutcome.SKIPPED:
        skipped = result.copy.skipped if result.copy is not None else None
        cause = skipped or action.cause
        log.warning(
            "item skipped",
            **_item_fields(action),
            reason=cause,
            message=f"{item_name(action)}: {cause}",
            hint=_SKIP_HINTS.get(cause),
            source_digest=action.source_digest,
        )


_SKIP_HINTS = {
    NO_PLATFORM_MATCH: "the source has none of the entry's platforms; fix `platforms:`",
    "no matching platform": "the source has none of the entry's platforms; fix `platforms:`",
    "source missing": "the tag was listed but is gone; the next cycle lists the tags again",
}


async def execute(
    client: RegistryClient,
    plan: Plan,
    *,
    concurrency: int = 8,
    copier: Copier | None = None,
    locks: KeyLocks | None = None,
    on_result: ResultHook | None = None,
    cache: DigestCache | None = None,
    deadline_passed: Callable[[], bool] | None = None,
) -> SyncReport:
    """Copy every ``copy`` action; report every action's outcome.

    With ``cache``, schema1 conversions are remembered so the next plan can
    tell the converted target is in sync. When execution is cancelled
    because the cycle's deadline passed (``deadline_passed()`` says so),
    each copy it cuts short is reported as failed, with reason ``timeout``,
    before the cancellation goes on; copies not yet started are left for
    the next cycle. Archive targets written to are committed once, at the
    end (what was copied there, even if other items failed); a commit that
    fails fails their copied items.
    """
    started = time.monotonic()
    copier = copier or Copier(client)
    gate = asyncio.Semaphore(max(1, concurrency))
    locks = locks or KeyLocks()

    async def run(action: Action) -> ItemResult:
        if action.kind is not ActionKind.COPY or not isinstance(action.item, SyncItem):
            result = _passive(action)
        else:
            running: list[float] = []  # when the copy started, once it has
            try:
                result = await _copy(copier, gate, locks, action, running)
            except asyncio.CancelledError:
                if running and deadline_passed is not None and deadline_passed():
                    finish(_cut_short(action, running[0]))
                raise
        finish(result)
        return result

    def finish(result: ItemResult) -> None:
        log_outcome(result)
        copied = result.copy
        if cache is not None and copied and copied.converted_from and copied.target_digest:
            cache.record_conversion(copied.source_digest, copied.target_digest)
        if on_result is not None:
            on_result(result)

    try:
        results = await asyncio.gather(*(run(a) for a in plan.actions))
        results = await _commit_archives(copier, results)
    finally:
        await copier.close()
    return SyncReport(
        results=tuple(results),
        duration=round(time.monotonic() - started, 3),
        bytes_moved=sum(r.copy.bytes_moved for r in results if r.copy is not None),
    )


def _cut_short(action: Action, started: float) -> ItemResult:
    """The failure of a copy the cycle's deadline cancelled."""
    duration = time.monotonic() - started
    error = CycleTimeoutError(
        f"the cycle's deadline passed after {duration:.1f} s of copying; the copy was cancelled",
        remedy="raise HANGARD_CYCLE_TIMEOUT, or split the entries over schedules",
    )
    return ItemResult(
        action,
        ItemOutcome.FAILED,
        duration=duration,
        failure=error.with_context(item=item_name(action)),
    )


async def _commit_archives(copier: Copier, results: list[ItemResult]) -> list[ItemResult]:
    """Commit the archives written to; on failure, their copied items fail."""
    try:
        await copier.commit()
    except (HangardError, OSError) as exc:
        error = exc if isinstance(exc, HangardError) else OperationError(f"archive: {exc}")
        log.error("archive not committed", error=str(error))
        return [
            replace(
                r, outcome=ItemOutcome.FAILED, failure=error.with_context(item=item_name(r.action))
            )
            if r.outcome is ItemOutcome.COPIED
            and isinstance(r.action.item, SyncItem)
            and isinstance(r.action.item.destination, ArchiveReference)
            else r
            for r in results
        ]
    return results


async def _copy(
    copier: Copier, gate: asyncio.Semaphore, locks: KeyLocks, action: Action, running: list[float]
) -> ItemResult:
    """Copy one item; ``running`` gets the time it starts (past its lock
    and the concurrency gate)."""
    item = action.item
    assert isinstance(item, SyncItem)
    started = time.monotonic()
    event = log.bind(**_item_fields(action))
    lock = locks(item.key)
    contended = lock.locked()
    async with lock, gate:
        running.append(time.monotonic())
        # copy exactly what was observed, even if the tag moves meanwhile
        source = item.source
        if not source.digest and action.source_digest:
            source = source.with_digest(action.source_digest)
        try:
            result = await copier.copy(
                source,
                item.destination,
                platforms=item.platforms,
                # the plan's view of the target is stale if another job held the lock
                target_digest=UNKNOWN if contended else action.target_digest,
            )
        except HangardError as exc:
            duration = time.monotonic() - started
            # the "item failed" event is logged by log_outcome; the failure's
            # context names the item, its message (``error``) stays as it was
            return ItemResult(
                action,
                ItemOutcome.FAILED,
                duration=duration,
                failure=exc.with_context(item=item_name(action)),
            )
    duration = time.monotonic() - started
    if result.skipped:
        outcome = ItemOutcome.SKIPPED
    elif result.up_to_date:  # another job or run got there first
        outcome = ItemOutcome.IN_SYNC
    else:
        outcome = ItemOutcome.COPIED
    repaired = outcome is ItemOutcome.COPIED and action.cause == "drift"
    event.info(
        "repaired" if repaired else "copy finished",
        previous_digest=action.target_digest if repaired else None,
        source_digest=result.source_digest,
        target_digest=result.target_digest,
        bytes=result.bytes_moved,
        blobs_copied=result.blobs_copied,
        blobs_mounted=result.blobs_mounted,
        duration=round(duration, 3),
        result=outcome.value,
    )
    return ItemResult(action, outcome, copy=result, duration=duration)
