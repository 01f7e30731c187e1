"""The daemon's side of a cycle: it turns the plan and each item's outcome
into the item history (``state.json``) and the Prometheus metrics, as they happen."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path

from hangard.daemon.history import History, ItemHistory
from hangard.daemon.metrics import Metrics
from hangard.errors import Reason
from hangard.registry.client import RegistryClient
from hangard.sync import (
    CycleHooks,
    ItemOutcome,
    ItemResult,
    Planned,
    PruneResult,
    Save,
    SyncReport,
)
from hangard.sync.failed import write_entries
from hangard.sync.prune import prune_result

__all__ = ["Recorder", "export_item"]


def export_item(metrics: Metrics, history: History, item: ItemHistory) -> None:
    """Set the gauges of ``item``'s labels (image, tag, target) from every
    item sharing them: one source tag sent to one target under two
    destinations is two items but one label set. In sync when all are
    (min), drift, missing and the failure streak when any is (max), and the
    last success is the oldest one known (min)."""
    group = history.same_labels(item.labels) or [item]
    successes = [i.last_success for i in group if i.last_success is not None]
    metrics.set_item_state(
        item.labels,
        in_sync=all(i.in_sync for i in group),
        drift=any(i.drift for i in group),
        missing=any(i.missing for i in group),
        last_success=min(successes) if successes else None,
        consecutive_failures=max(i.consecutive_failures for i in group),
    )


class Recorder(CycleHooks):
    """Records one cycle. ``complete``: the cycle covers every schedule, so
    items it did not plan have left the desired state and are forgotten."""

    def __init__(
        self,
        history: History,
        metrics: Metrics,
        *,
        complete: bool,
        schedules: frozenset[str] = frozenset(),
        failed_path: Path | None = None,
        targets: dict[str, str] | None = None,
    ) -> None:
        self.history = history
        self.metrics = metrics
        self.complete = complete
        self.schedules = schedules
        self.failed_path = failed_path
        self.targets = targets or {}
        self.started = time.monotonic()
        self.prune_failed = False
        """A deletion failed: the cycle is not a good one."""
        self.deadline: asyncio.Timeout | None = None
        """The cycle's deadline (``HANGARD_CYCLE_TIMEOUT``), once set."""

    def deadline_passed(self) -> bool:
        return self.deadline is not None and self.deadline.expired()

    def planned(self, planned: Planned) -> None:
        if self.complete:
            self.history.keep_only(
                [i.key for i in planned.items] + [e.key for e in planned.problems]
            )
            self.metrics.forget_items(i.labels for i in self.history.items.values())
        missing: dict[tuple[str, str, str], int] = {}
        for action in planned.plan.actions:
            item = self.history.observed(action)
            export_item(self.metrics, self.history, item)
            found = len(action.attachments.missing) if action.attachments else 0
            missing[item.labels] = missing.get(item.labels, 0) + found
        for labels, count in missing.items():
            self.metrics.set_attachments_missing(labels, count)
        self.metrics.items_owned.set(len(self.history.items))
        self.metrics.desired.set(len(self.history.items))

    def item_finished(self, result: ItemResult) -> None:
        item = self.history.finished(result)
        export_item(self.metrics, self.history, item)
        action = result.action
        if result.outcome in (ItemOutcome.COPIED, ItemOutcome.IN_SYNC) and action.attachments:
            self.metrics.set_attachments_missing(item.labels, 0)
        if result.outcome is ItemOutcome.FAILED:
            self.metrics.count_failure(
                action.item.image, action.item.target, result.reason or Reason.OTHER
            )
        copy = result.copy
        if copy is not None and result.outcome is ItemOutcome.COPIED:
            registry = copy.target.split("/", 1)[0]
            self.metrics.bytes_copied.labels(target_registry=registry).inc(copy.bytes_moved)
            self.metrics.blobs.labels(result="copied").inc(copy.blobs_copied)
            self.metrics.blobs.labels(result="mounted").inc(copy.blobs_mounted)
            self.metrics.blobs.labels(result="present").inc(copy.blobs_present)

    def pruned(self, results: Sequence[PruneResult]) -> None:
        """Count each deletion; a failed one also as a failure of its
        repository on its target, with the error's reason."""
        for result in results:
            target = result.deletion.target
            self.metrics.prune_deletions.labels(target=target, result=prune_result(result)).inc()
            if result.error is not None:
                self.prune_failed = True
                image = result.deletion.owned.repository
                self.metrics.count_failure(image, target, result.error.reason)

    def saves(self) -> Sequence[Save]:
        saves = [Save("item history", self.history.path, self.history.save)]
        if self.failed_path is not None:
            # from the history, not this cycle's report: one list of every
            # item failing now, whatever its schedule
            path = self.failed_path

            def write() -> None:
                write_entries(path, self.history.failing(self.targets))

            saves.append(Save("failed list", path, write))
        return saves

    def registries(self, client: RegistryClient) -> None:
        """What the registries told the client beyond the items (quotas)."""
        for registry, remaining in client.ratelimit_remaining.items():
            self.metrics.ratelimit_remaining.labels(registry=registry).set(remaining)

    def finished(self, report: SyncReport | None) -> None:
        ok = report is not None and report.ok and not self.prune_failed
        duration = time.monotonic() - self.started
        result = "success" if ok else "failure"
        self.metrics.cycle_duration.observe(duration)
        self.metrics.cycles.labels(result=result).inc()
        # per schedule: a clean job must not hide a failing one
        self.history.cycle_finished(self.schedules, ok=ok, duration=duration)
        for schedule in self.schedules:
            self.metrics.schedule_cycles.labels(schedule=schedule, result=result).inc()
        if ok:
            for schedule in self.schedules:
                self.metrics.last_good_cycle.labels(schedule=schedule).set(
                    self.history.last_good_cycles[schedule]
                )
