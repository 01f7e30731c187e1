"""The one sync cycle: observe → plan → execute → persist.

``hangard sync``, every daemon job, ``hangard plan`` and ``validate
--online`` run through here (the last two stop after planning). What differs
between callers plugs in through :class:`CycleHooks`: progress bars and
printing for the CLI, state and metrics for the daemon.

Persisting (the digest cache, the failed list, and whatever the hooks add)
happens in :func:`persist`, with one policy: a file that cannot be written
is logged and reported, and never fails the cycle.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from hangard.aio import map_bounded
from hangard.copy import Copier, Progress, TransferSession
from hangard.core.attachments import AttachmentSettings
from hangard.core.concurrency import CONCURRENCY
from hangard.core.desired import DesiredState
from hangard.core.plan import ExpansionProblem, Plan, SyncItem, expand, make_plan
from hangard.core.plan import pattern_repositories as _pattern_repositories
from hangard.core.reference import ImageReference, Repository
from hangard.core.shard import Shard, ShardSpread, mine
from hangard.errors import HangardError
from hangard.registry.client import RegistryClient
from hangard.stores.open import open_store
from hangard.sync.digestcache import DigestCache
from hangard.sync.execution import ItemOutcome, ItemResult, KeyLocks, SyncReport, execute
from hangard.sync.failed import write_failed_list
from hangard.sync.observation import observe
from hangard.sync.ownership import OwnershipStore
from hangard.sync.prune import (
    PrunePlanned,
    PruneResult,
    Pruning,
    plan_prune,
    refusal_actions,
    run_prune,
)
from hangard.sync.shardmarker import check_shard_marker

if TYPE_CHECKING:
    from hangard.stores.archive.opened import ArchiveSet

__all__ = [
    "AttachmentChoice",
    "CycleHooks",
    "CycleResult",
    "Planned",
    "Save",
    "SaveFailure",
    "Scope",
    "list_pattern_tags",
    "observe_and_plan",
    "persist",
    "run_cycle",
    "shard_spread",
]

log = structlog.get_logger("hangard.sync")


@dataclass(frozen=True)
class AttachmentChoice:
    """The command line's say over attachments, above the config's."""

    none: bool = False
    """``--no-attachments``: nothing travels with the images."""
    no_signatures: bool = False
    """``--remove-signatures``: signatures stay behind."""

    def apply(self, state: DesiredState) -> DesiredState:
        """``state`` with every entry's attachments (and the default) overridden."""
        if not (self.none or self.no_signatures):
            return state

        def change(settings: AttachmentSettings) -> AttachmentSettings:
            update = {"enabled": False} if self.none else {"signatures": False}
            return settings.model_copy(update=update)

        defaults = state.defaults.model_copy(
            update={"attachments": change(state.defaults.attachments)}
        )
        images = [
            e.model_copy(update={"attachments": change(e.attachments)}) if e.attachments else e
            for e in state.images
        ]
        return state.model_copy(update={"defaults": defaults, "images": images})


@dataclass(frozen=True)
class Scope:
    """Which items a cycle covers: those on ``schedules`` (``None``: all),
    of ``shard`` (``None``: unsharded)."""

    schedules: frozenset[str] | None = None
    shard: Shard | None = None


@dataclass(frozen=True)
class Planned:
    """The observe and plan steps' result."""

    plan: Plan
    items: list[SyncItem]
    """Every item of the desired state (of the selected schedules)."""
    problems: list[ExpansionProblem]
    """Entries whose tags could not be listed."""
    prune: PrunePlanned | None = None
    """The prune step's plan (``None``: pruning is off for this cycle)."""


@dataclass(frozen=True)
class Save:
    """One file a cycle writes at its end."""

    what: str
    path: Path | None
    write: Callable[[], None]


@dataclass(frozen=True)
class SaveFailure:
    what: str
    path: Path | None
    error: str


@dataclass(frozen=True)
class CycleResult:
    planned: Planned
    report: SyncReport
    failed_listed: int = 0
    """How many items the failed list names."""
    save_failures: tuple[SaveFailure, ...] = field(default=())
    pruned: tuple[PruneResult, ...] = field(default=())
    """The prune step's deletions, each with its outcome."""

    @property
    def ok(self) -> bool:
        """No item failed, and every planned deletion happened or was kept on purpose."""
        return self.report.ok and all(p.ok for p in self.pruned)


class CycleHooks:
    """What a caller plugs into :func:`run_cycle`. Every hook is optional:
    override the ones you need."""

    def planned(self, planned: Planned) -> None:
        """The plan is known; copying starts next."""

    def item_finished(self, result: ItemResult) -> None:
        """One item's outcome, as soon as it is known."""

    def progress(self) -> Progress | None:
        """Where blob transfers report their progress."""
        return None

    def pruned(self, results: Sequence[PruneResult]) -> None:
        """The prune step's outcomes (after the copies)."""

    def finished(self, report: SyncReport | None) -> None:
        """Execution ended, before anything is written; ``None`` when the
        cycle failed or was cancelled before its report."""

    def saves(self) -> Sequence[Save]:
        """Files of the caller's to write with the cycle's own."""
        return ()

    def deadline_passed(self) -> bool:
        """Whether the caller's deadline for this cycle has passed: the
        copies a cancellation then cuts short are reported as failed (reason
        ``timeout``) through :meth:`item_finished`, not dropped."""
        return False


async def list_pattern_tags(
    client: RegistryClient, repos: Iterable[Repository]
) -> dict[Repository, Sequence[str] | HangardError]:
    """Tags of each repository, or the error when listing failed."""

    async def one(repo: Repository) -> tuple[Repository, Sequence[str] | HangardError]:
        try:
            return repo, await client.list_tags(repo)
        except HangardError as exc:
            return repo, exc

    return dict(await map_bounded(one, list(repos)))


async def observe_and_plan(
    client: RegistryClient,
    state: DesiredState,
    *,
    cache: DigestCache | None = None,
    only: frozenset[str] | None = None,
    archives: ArchiveSet | None = None,
    owners: OwnershipStore | None = None,
    shard: Shard | None = None,
) -> Planned:
    """List the tags patterns need, expand the desired state into items,
    observe their digests, and decide.

    ``only`` restricts the plan to items with these schedules (the daemon
    runs one job per schedule), ``shard`` to the items that shard owns
    (nothing of another shard's is listed or observed). Archive targets are
    read through ``archives`` (the cycle's; by default one opened and closed
    here). With ``owners`` the targets that ask for it are pruned (``None``:
    no prune).
    """
    tags = await list_pattern_tags(client, _pattern_repositories(state, only, shard))
    items, problems = expand(state, tags)
    if only is not None:
        items = [i for i in items if i.schedule in only]
        problems = [e for e in problems if e.schedule in only]
    items, problems = mine(shard, items), mine(shard, problems)
    opened = archives or _archive_set(state)
    try:
        observations = await observe(
            client, items, cache, stores=lambda ref: open_store(ref, client, opened), tags=tags
        )
    finally:
        if archives is None and opened is not None:
            await opened.close()
    plan = make_plan(items, observations, problems)
    if owners is None:
        return Planned(plan, items, problems)
    step = await plan_prune(
        client,
        state,
        plan=plan,
        items=items,
        problems=problems,
        owners=owners,
        only=only,
        shard=shard,
    )
    actions = sorted([*plan.actions, *refusal_actions(step.refusals)], key=lambda a: a.key)
    plan = replace(plan, actions=tuple(actions), deletions=step.deletions, notes=step.notes)
    return Planned(plan, items, problems, step)


async def shard_spread(client: RegistryClient, state: DesiredState, count: int) -> ShardSpread:
    """How the desired state's items spread over ``count`` shards: the tag
    lists patterns need, and no digests."""
    tags = await list_pattern_tags(client, _pattern_repositories(state))
    items, problems = expand(state, tags)
    return ShardSpread.of(items, count, [f"{p.image} [{p.target}]: {p.message}" for p in problems])


def _archive_set(state: DesiredState) -> ArchiveSet | None:
    """One reader or writer per archive target, for a cycle; ``None`` when
    no target is an archive (then the zip code is never loaded)."""
    if all(t.archive is None for t in state.targets.values()):
        return None
    from hangard.stores.archive.opened import ArchiveSet

    return ArchiveSet()


def persist(saves: Iterable[Save]) -> tuple[SaveFailure, ...]:
    """Write each file; log and return the ones that could not be written."""
    failures = []
    for save in saves:
        try:
            save.write()
        except OSError as exc:
            log.warning("could not write", file=save.what, path=str(save.path), error=str(exc))
            failures.append(SaveFailure(save.what, save.path, str(exc)))
    return tuple(failures)


def cache_save(cache: DigestCache) -> Save:
    return Save("digest cache", cache.path, cache.save)


async def run_cycle(  # noqa: PLR0913 (keyword-only options, each defaulted)
    client: RegistryClient,
    state: DesiredState,
    *,
    cache: DigestCache,
    failed_path: Path | None,
    hooks: CycleHooks | None = None,
    concurrency: int = CONCURRENCY,
    locks: KeyLocks | None = None,
    scope: Scope | None = None,
    pruning: Pruning | None = None,
) -> CycleResult:
    """Observe, plan, execute and persist once.

    The failed list goes to ``failed_path`` (``None``: none is written). The
    caller's files (``hooks.saves()``) are written even when the cycle is
    cancelled or fails half way, so what was learnt is kept. With
    ``pruning``, each tag written is recorded in its store as soon as it
    is pushed, and (when enabled) the targets asking for it are pruned.
    """
    hooks = hooks or CycleHooks()
    scope = scope or Scope()
    only = scope.schedules
    owners = pruning.store if pruning is not None else None
    pruned: tuple[PruneResult, ...] = ()
    client.harbor.new_run()  # each cycle checks each Harbor project again, once
    planned: Planned | None = None
    report: SyncReport | None = None
    archives = _archive_set(state)
    try:
        if scope.shard is not None:
            await check_shard_marker(client, state, scope.shard)
        planned = await observe_and_plan(
            client,
            state,
            cache=cache,
            only=scope.schedules,
            archives=archives,
            shard=scope.shard,
            owners=owners if pruning is not None and pruning.enabled else None,
        )
        hooks.planned(planned)
        report = await execute(
            client,
            planned.plan,
            concurrency=concurrency,
            copier=Copier(client, _session(client, hooks.progress()), archives),
            locks=locks,
            on_result=_owning(owners, hooks.item_finished),
            cache=cache,
            deadline_passed=hooks.deadline_passed,
        )
        if owners is not None and planned.prune is not None:
            pruned = await run_prune(client, planned.prune, owners)
            hooks.pruned(pruned)
        log.info(
            "cycle finished",
            **report.summary_fields(),
            schedules=sorted(only) if only is not None else None,
        )
    finally:
        if archives is not None:
            await archives.close()
        hooks.finished(report)
        saves = [cache_save(cache), *hooks.saves()]
        listed: list[int] = []
        if report is not None and failed_path is not None:
            done = report
            saves.append(
                Save("failed list", failed_path, lambda: listed.append(_write(failed_path, done)))
            )
        failures = persist(saves)
    assert planned is not None and report is not None  # else the try raised
    return CycleResult(planned, report, sum(listed), failures, pruned)


def _owning(
    owners: OwnershipStore | None, then: Callable[[ItemResult], None]
) -> Callable[[ItemResult], None]:
    """``then``, after recording each tag pushed to a registry in ``owners``:
    the image's, and its attachments' (linked to the image's digest)."""

    def hook(result: ItemResult) -> None:
        item, copied = result.action.item, result.copy
        dest = item.destination if isinstance(item, SyncItem) else None
        if (
            owners is not None
            and result.outcome is ItemOutcome.COPIED
            and isinstance(dest, ImageReference)
            and dest.tag
            and copied is not None
            and copied.target_digest
        ):
            repo, image = str(dest.repository), copied.target_digest
            try:
                owners.record(item.target, repo, dest.tag, image)
                for tag, digest in result.attachment_tags:
                    owners.record_attachment(item.target, repo, tag, digest, image)
            except sqlite3.Error as exc:  # the copy stands; only pruning loses it
                log.warning("could not record ownership", image=str(dest), error=str(exc))
        then(result)

    return hook


def _session(client: RegistryClient, progress: Progress | None) -> TransferSession:
    if progress is None:
        return TransferSession(client)
    return TransferSession(client, progress=progress)


def _write(path: Path, report: SyncReport) -> int:
    return write_failed_list(path, report.results)
