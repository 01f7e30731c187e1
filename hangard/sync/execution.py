"""Execute a plan: copy what is missing or drifted, concurrently, with one
failure never stopping the others. Returns a :class:`SyncReport` value."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace

import structlog

from hangard.aio import map_bounded
from hangard.copy import Copier
from hangard.copy.archived import save_attachments
from hangard.copy.attachments import AttachmentCopier
from hangard.copy.engine import NO_PLATFORM_MATCH, UNKNOWN
from hangard.copy.progress import ITEM_LABEL
from hangard.copy.verify import verified_source
from hangard.core.concurrency import CONCURRENCY
from hangard.core.plan import Action, ActionKind, ItemKey, Plan, SyncItem
from hangard.core.reference import ImageReference
from hangard.core.transports import ArchiveReference
from hangard.errors import CycleTimeoutError, HangardError, OperationError, Reason
from hangard.registry.client import RegistryClient
from hangard.sync.digestcache import DigestCache
from hangard.sync.results import ItemOutcome, ItemResult, SyncReport

__all__ = ["ItemOutcome", "ItemResult", "KeyLocks", "SyncReport", "execute"]


log = structlog.get_logger("hangard.sync")


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
    concurrency: int = CONCURRENCY,
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
    fails fails their copied items. The outcome of an item copied into an
    archive is logged and given to ``on_result`` only then, once the commit
    is known, so the hook sees such an item once, failed if the commit failed.
    """
    started = time.monotonic()
    copier = copier or Copier(client)
    gate = asyncio.Semaphore(max(1, concurrency))
    locks = locks or KeyLocks()
    outcomes = _Outcomes(cache, on_result)

    async def run(action: Action) -> ItemResult:
        if action.kind is not ActionKind.COPY or not isinstance(action.item, SyncItem):
            result = _passive(action)
        else:
            running: list[float] = []  # when the copy started, once it has
            try:
                result = await _copy(copier, gate, locks, action, running, cache=cache)
            except asyncio.CancelledError:
                if running and deadline_passed is not None and deadline_passed():
                    outcomes.finish(_cut_short(action, running[0]))
                raise
        outcomes.report(result)
        return result

    try:
        results = await map_bounded(run, plan.actions)
        results = await _commit_archives(copier, results)
    except asyncio.CancelledError:
        if deadline_passed is not None and deadline_passed():
            outcomes.abandoned()
        raise
    finally:
        await copier.close()
    outcomes.committed(results)
    return SyncReport(
        results=tuple(results),
        duration=round(time.monotonic() - started, 3),
        bytes_moved=sum(r.copy.bytes_moved for r in results if r.copy is not None),
    )


class _Outcomes:
    """Each item's outcome, logged and given to the hook once: at once, or,
    for a copy into an archive, once the archive's commit is known."""

    def __init__(self, cache: DigestCache | None, on_result: ResultHook | None) -> None:
        self._cache = cache
        self._on_result = on_result
        self._held: list[ItemResult] = []

    def report(self, result: ItemResult) -> None:
        if _awaits_commit(result):
            self._held.append(result)
        else:
            self.finish(result)

    def finish(self, result: ItemResult) -> None:
        log_outcome(result)
        copied = result.copy
        if self._cache is not None and copied and copied.converted_from and copied.target_digest:
            self._cache.record_conversion(copied.source_digest, copied.target_digest)
        if self._on_result is not None:
            self._on_result(result)

    def committed(self, results: list[ItemResult]) -> None:
        """The commit is known: the held items' final ``results``."""
        waited = {id(h.action) for h in self._held}
        for result in results:
            if id(result.action) in waited:
                self.finish(result)
        self._held.clear()

    def abandoned(self) -> None:
        """The cycle's deadline cancelled the run before the commit."""
        for result in self._held:
            started = time.monotonic() - result.duration
            self.finish(_cut_short(result.action, started, COMMIT_CUT))
        self._held.clear()


def _awaits_commit(result: ItemResult) -> bool:
    """Whether ``result`` is final only once its target is committed: a
    copy into an archive, which the run commits at its end."""
    item = result.action.item
    return (
        result.outcome is ItemOutcome.COPIED
        and isinstance(item, SyncItem)
        and isinstance(item.destination, ArchiveReference)
    )


COPY_CUT = "of copying; the copy was cancelled"
COMMIT_CUT = "of copying into the archive; it was cancelled before the archive was committed"


def _cut_short(action: Action, started: float, what: str = COPY_CUT) -> ItemResult:
    """The failure of a copy the cycle's deadline cancelled."""
    duration = time.monotonic() - started
    error = CycleTimeoutError(
        f"the cycle's deadline passed after {duration:.1f} s {what}",
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
            if _awaits_commit(r)
            else r
            for r in results
        ]
    return results


async def _copy(
    copier: Copier,
    gate: asyncio.Semaphore,
    locks: KeyLocks,
    action: Action,
    running: list[float],
    *,
    cache: DigestCache | None = None,
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
        ITEM_LABEL.set(item_name(action))  # this task's blobs, on a progress display
        # copy exactly what was observed, even if the tag moves meanwhile
        source = item.source
        if not source.digest and action.source_digest:
            source = source.with_digest(action.source_digest)
        try:  # the policy's check first: what it verified is what is copied
            source = await verified_source(copier.client, source, item.requirements)
            result = await copier.copy(
                source,
                item.destination,
                platforms=item.platforms,
                # the plan's view of the target is stale if another job held the lock
                target_digest=UNKNOWN if contended else action.target_digest,
            )
            if not result.skipped:
                attached, written = await _attach(copier, action, cache)
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
    attached, written = (0, ()) if result.skipped else (attached, written)
    if result.skipped:
        outcome = ItemOutcome.SKIPPED
    elif result.up_to_date and not attached:  # another job or run got there first
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
        attachments=attached or None,
        duration=round(duration, 3),
        result=outcome.value,
    )
    return ItemResult(
        action, outcome, copy=result, duration=duration, attachment_tags=tuple(written)
    )


async def _attach(
    copier: Copier, action: Action, cache: DigestCache | None
) -> tuple[int, tuple[tuple[str, str], ...]]:
    """Copy the attachments the plan found missing; remember them in
    ``cache``. How many were copied, and the ``(tag, digest)`` of each
    target tag written (see :attr:`ItemResult.attachment_tags`)."""
    item, state = action.item, action.attachments
    if not isinstance(item, SyncItem) or state is None or item.attachments is None:
        return 0, ()
    if not state.missing:
        return 0, ()
    if isinstance(item.destination, ArchiveReference):  # beside the image, under their tags
        saved = await save_attachments(
            copier, item.source.repository, item.destination, state.missing, item.attachments
        )
        where = str(item.destination.with_tag(""))  # the archive's image, not one tag of it
        for attachment in saved:
            if cache is not None:
                cache.record_attachment(where, attachment.key, attachment.digest)
        return len(saved), ()  # an archive is never pruned: nothing to own
    if not isinstance(item.destination, ImageReference):
        return 0, ()
    target = item.destination.repository
    attacher = AttachmentCopier(copier)
    done = await attacher.copy(item.source.repository, target, state.missing, item.attachments)
    for attachment in done:
        if cache is not None:
            cache.record_attachment(str(target), attachment.key, attachment.digest)
    return len(done), tuple(attacher.written)
