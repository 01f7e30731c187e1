"""The values a plan's execution gives: each item's :class:`ItemResult`
(its :class:`ItemOutcome`) and the run's :class:`SyncReport`."""

from __future__ import annotations

import dataclasses
from copy import copy as _clone
from dataclasses import dataclass
from enum import StrEnum

from hangard.copy import CopyResult
from hangard.core.plan import Action, ItemKey
from hangard.errors import HangardError, Reason

__all__ = ["ItemOutcome", "ItemResult", "SyncReport"]


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
    attachment_tags: tuple[tuple[str, str], ...] = ()
    """``(tag, digest)`` of each attachment tag written to the target with
    the image (cosign tags, fallback indexes): what pruning owns with it."""

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
