"""Plan and sync as library calls: what ``hangard plan``, ``hangard sync
--once`` and every daemon cycle run."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import structlog

from hangard.core.desired import DesiredState
from hangard.core.plan import (
    ExpansionError,
    Plan,
    SyncItem,
    expand,
    make_plan,
    pattern_repositories,
)
from hangard.core.reference import Repository
from hangard.errors import HangardError
from hangard.registry.client import RegistryClient
from hangard.sync.execute import SyncReport, execute
from hangard.sync.observe import SubsetCache, observe

__all__ = ["compute_plan", "list_pattern_tags", "sync_once"]

log = structlog.get_logger("hangard.sync")


async def list_pattern_tags(
    client: RegistryClient, repos: Sequence[Repository]
) -> dict[Repository, Sequence[str] | HangardError]:
    """Tags of each repository, or the error when listing failed."""

    async def one(repo: Repository) -> tuple[Repository, Sequence[str] | HangardError]:
        try:
            return repo, await client.list_tags(repo)
        except HangardError as exc:
            return repo, exc

    return dict(await asyncio.gather(*(one(r) for r in repos)))


async def compute_plan(
    client: RegistryClient,
    state: DesiredState,
    *,
    cache: SubsetCache | None = None,
    only: frozenset[str] | None = None,
) -> tuple[Plan, list[SyncItem], list[ExpansionError]]:
    """Expand the desired state, observe digests, and decide.

    ``only`` restricts the plan to items with these schedules (the daemon
    runs one job per schedule).
    """
    tags = await list_pattern_tags(client, pattern_repositories(state, only))
    items, errors = expand(state, tags)
    if only is not None:
        items = [i for i in items if i.schedule in only]
        errors = [e for e in errors if e.schedule in only]
    observations = await observe(client, items, cache)
    return make_plan(items, observations, errors), items, errors


async def sync_once(
    client: RegistryClient,
    state: DesiredState,
    *,
    concurrency: int = 8,
    cache: SubsetCache | None = None,
    only: frozenset[str] | None = None,
    **execute_options: object,
) -> tuple[Plan, SyncReport]:
    plan, _, _ = await compute_plan(client, state, cache=cache, only=only)
    report = await execute(
        client,
        plan,
        concurrency=concurrency,
        cache=cache,
        **execute_options,  # type: ignore[arg-type]
    )
    if cache is not None:
        cache.save()
    return plan, report
