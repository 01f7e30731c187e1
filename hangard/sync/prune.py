"""The prune step of a cycle: plan deletions from the ownership store and
the targets' tag lists, then delete (the decisions are
:mod:`hangard.core.prune`'s, the protocol :mod:`hangard.registry.delete`'s).

In the steady state (every owned tag still selected) planning sends no
request at all; a repository is listed only when an owned tag there has
left the selection, and each tag to delete gets one ``HEAD`` to check it
still points at what hangard wrote (another writer's push is not deleted).
Attachment tags hangard owns never make a repository listed on their own;
deleting one looks at the repository's other tags once (the
:class:`~hangard.registry.delete.TagCensus` a digest delete needs anyway)
to make sure no tag still holds its image.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import structlog

from hangard.core.desired import DesiredState
from hangard.core.fieldchecks import parse_reference
from hangard.core.plan import Action, ActionKind, ExpansionProblem, Plan, SyncItem
from hangard.core.prune import (
    Deletion,
    Owned,
    attachment_subject,
    image_rows,
    orphans_possible,
    prune_refusal,
    prune_scope,
    select_deletions,
    selected_tags,
)
from hangard.core.reference import ImageReference
from hangard.core.shard import Shard
from hangard.errors import HangardError, NotFoundError
from hangard.registry.client import RegistryClient
from hangard.registry.delete import DELETE_REMEDY, DeleteOutcome, TagCensus, delete_tag
from hangard.sync.ownership import OwnershipStore

__all__ = [
    "PRUNE_IMAGE",
    "PrunePlanned",
    "PruneResult",
    "Pruning",
    "plan_prune",
    "prune_result",
    "refusal_actions",
    "run_prune",
]

log = structlog.get_logger("hangard.prune")

PRUNE_IMAGE = "(prune)"
"""The ``image`` of a refused prune's error item (its metrics label)."""


@dataclass(frozen=True)
class Pruning:
    """A cycle's ownership store, and whether the cycle prunes (``--no-prune``
    still records what it writes)."""

    store: OwnershipStore
    enabled: bool = True


@dataclass(frozen=True)
class PrunePlanned:
    deletions: tuple[Deletion, ...] = ()
    refusals: tuple[ExpansionProblem, ...] = ()
    """One per target whose deletions passed its cap (none of them happen)."""
    notes: tuple[str, ...] = ()
    forget: tuple[Owned, ...] = ()
    """Rows whose tag is gone, or was overwritten by another writer."""
    listings: dict[str, list[str]] = field(default_factory=dict)
    """The tag lists read, by repository (``HOST/PATH``)."""


@dataclass(frozen=True)
class PruneResult:
    deletion: Deletion
    outcome: DeleteOutcome | None
    """``None``: failed (see ``error``)."""
    error: HangardError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def prune_result(result: PruneResult) -> str:
    """``deleted``, ``kept`` or ``failed``: the metrics label."""
    if result.error is not None:
        return "failed"
    return "kept" if result.outcome in _KEPT_HINTS else "deleted"


def _kept_digests(plan: Plan) -> dict[tuple[str, str], set[str]]:
    kept: dict[tuple[str, str], set[str]] = {}
    for action in plan.actions:
        item = action.item
        if isinstance(item, SyncItem) and isinstance(item.destination, ImageReference):
            digests = {action.source_digest, action.target_digest, action.desired_digest}
            key = (item.target, str(item.destination.repository))
            kept.setdefault(key, set()).update(d for d in digests if d)
    return kept


async def plan_prune(
    client: RegistryClient,
    state: DesiredState,
    *,
    plan: Plan,
    items: Sequence[SyncItem],
    problems: Sequence[ExpansionProblem],
    owners: OwnershipStore,
    only: frozenset[str] | None = None,
    shard: Shard | None = None,
) -> PrunePlanned:
    """What this cycle prunes, per target (see :mod:`hangard.core.prune`)."""
    scope = prune_scope(state, problems, only, shard)
    selected = selected_tags(items)
    kept = _kept_digests(plan)
    out = _Collect()
    for name in sorted(scope.targets):
        target = state.targets[name]
        rows = [o for o in owners.owned(name) if o.repository.startswith(f"{target.registry}/")]
        if not rows:
            where = owners.path or "memory"
            out.notes.append(
                f"prune: no ownership records for target {name} ({where}); "
                "nothing will be deleted there"
            )
            continue
        going: list[Deletion] = []
        for repo in sorted({o.repository for o in rows}):
            if not scope.decides(name, repo):
                continue
            mine = [o for o in rows if o.repository == repo]
            wanted = selected.get(repo, set())
            if not orphans_possible(mine, wanted):
                continue  # the steady state: no request
            going += await _plan_repository(
                client, out, mine, wanted, kept.get((name, repo), set())
            )
        images = sum(1 for d in going if not d.attachment)
        refused = prune_refusal(name, images, len(image_rows(rows)), target.prune_max)
        if refused is not None:
            out.refusals.append(ExpansionProblem(PRUNE_IMAGE, name, refused))
            held = {o for d in going for o in d.of}  # their attachments wait for a raised cap
            out.forget = [o for o in out.forget if o not in held]
        else:
            out.deletions += going
    return out.planned()


@dataclass
class _Collect:
    deletions: list[Deletion] = field(default_factory=list)
    refusals: list[ExpansionProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    forget: list[Owned] = field(default_factory=list)
    listings: dict[str, list[str]] = field(default_factory=dict)

    def planned(self) -> PrunePlanned:
        return PrunePlanned(
            tuple(self.deletions),
            tuple(self.refusals),
            tuple(self.notes),
            tuple(self.forget),
            self.listings,
        )


async def _plan_repository(
    client: RegistryClient, out: _Collect, mine: list[Owned], wanted: set[str], kept: set[str]
) -> list[Deletion]:
    repo = mine[0].repository
    try:
        tags = await client.list_tags(parse_reference(repo).repository)
    except NotFoundError:
        tags = []
    except HangardError as exc:
        out.notes.append(f"prune: cannot list {repo}: {exc}; nothing deleted there")
        return []
    out.listings[repo] = tags
    planned, forget = select_deletions(mine, wanted, tags, kept)
    out.forget += forget
    going: list[Deletion] = []
    checked = set(forget)  # image rows an attachment may still go with
    for deletion in planned:
        owned = deletion.owned
        if deletion.of:  # an attachment: only with an image that still goes
            of = tuple(o for o in deletion.of if o in checked)
            if not of:
                continue
            deletion = Deletion(owned, deletion.cause, of=of)
        ref = parse_reference(f"{repo}:{owned.tag}")
        try:
            now = await client.head_manifest(ref)
        except HangardError as exc:
            out.notes.append(f"prune: cannot check {ref}: {exc}; not deleted")
            continue
        if now is None:
            out.forget.append(owned)
            checked.add(owned)
        elif now.digest != owned.digest:
            out.forget.append(owned)
            out.notes.append(
                f"prune: {ref} was overwritten since hangard wrote it "
                f"({now.digest}); not deleted, and no longer owned"
            )
        else:
            going.append(deletion)
            checked.add(owned)
    return going


def _unsupported(error: HangardError) -> bool:
    return error.remedy == DELETE_REMEDY


async def run_prune(
    client: RegistryClient, planned: PrunePlanned, owners: OwnershipStore
) -> tuple[PruneResult, ...]:
    """Delete the planned tags, one at a time, each repository's images
    before their attachments; forget each row once its tag is gone. A
    registry refusing deletes fails its remaining deletions without asking
    again.

    An attachment goes only once every image row it is orphaned by is gone,
    and when no tag left in the repository holds its subject or those
    images (else it is kept). The row of an image with attachments to
    delete is forgotten after them, and kept when one of them fails, so the
    next cycle tries again."""
    pending = {o for d in planned.deletions for o in d.of}
    owners.forget([o for o in planned.forget if o not in pending])
    run = _Run(client, planned, owners, pending)
    for deletion in planned.deletions:
        run.results.append(await run.one(deletion))
    failed = {o for r in run.results if r.error is not None for o in r.deletion.of}
    owners.forget(sorted(o for o in pending if run.gone.get(o) and o not in failed))
    return tuple(run.results)


class _Run:
    """One prune run: per-repository tag censuses, the registries that
    refused deletes, which owned rows' tags are gone."""

    def __init__(
        self,
        client: RegistryClient,
        planned: PrunePlanned,
        owners: OwnershipStore,
        pending: set[Owned],
    ) -> None:
        self.client = client
        self.planned = planned
        self.owners = owners
        self.pending = pending
        """Image rows forgotten only after their attachments."""
        self.censuses: dict[str, TagCensus] = {}
        self.refused: dict[str, HangardError] = {}
        self.gone: dict[Owned, bool] = dict.fromkeys(planned.forget, True)
        self.results: list[PruneResult] = []

    def census(self, deletion: Deletion) -> TagCensus:
        repo = deletion.owned.repository
        census = self.censuses.get(repo)
        if census is None:
            tags = self.planned.listings.get(repo, [])
            census = TagCensus(self.client, deletion.reference.repository, tags)
            self.censuses[repo] = census
        return census

    async def one(self, deletion: Deletion) -> PruneResult:
        ref = deletion.reference
        census = self.census(deletion)
        error = self.refused.get(ref.registry)
        outcome: DeleteOutcome | None = None
        if error is None:
            try:
                if deletion.attachment and await self._image_stays(deletion, census):
                    outcome = DeleteOutcome.IMAGE_KEPT
                else:
                    outcome = await delete_tag(self.client, ref, deletion.owned.digest, census)
            except HangardError as exc:
                error = exc.with_context(image=str(ref))
                if _unsupported(exc):
                    self.refused[ref.registry] = error
        self.gone[deletion.owned] = error is None and outcome not in _KEPT_HINTS
        later = deletion.owned in self.pending  # forgotten after its attachments
        return _finish(None if later else self.owners, deletion, outcome, error)

    async def _image_stays(self, deletion: Deletion, census: TagCensus) -> bool:
        """Whether an attachment's image is still on the target: a deletion
        that orphans it did not happen, or a tag left (a kept one, or
        anyone's) holds its subject or image."""
        if not all(self.gone.get(o) for o in deletion.of):
            return True
        digests = deletion.owned.links | {o.digest for o in deletion.of}
        for digest in sorted(digests):
            holders = await census.holders(digest, excluding=deletion.owned.tag)
            if any(attachment_subject(t) is None for t in holders):
                return True
        return False


_KEPT_HINTS = {
    DeleteOutcome.SHARED: "the registry deletes manifests by digest only; the tag goes once "
    "the other tags on its manifest do",
    DeleteOutcome.IMAGE_KEPT: "an attachment stays while its image is on the target",
}


def _finish(
    owners: OwnershipStore | None,
    deletion: Deletion,
    outcome: DeleteOutcome | None,
    error: HangardError | None,
) -> PruneResult:
    """Log the outcome; forget the row (in ``owners``) once its tag is gone."""
    fields = {"target": deletion.target, "image": str(deletion.reference)}
    if error is not None:
        log.error("prune failed", **fields, error=str(error), hint=error.remedy)
    elif outcome is not None and outcome in _KEPT_HINTS:
        log.warning("tag not pruned", **fields, reason=outcome.value, hint=_KEPT_HINTS[outcome])
    else:
        if owners is not None:
            owners.forget([deletion.owned])
        log.info("tag pruned", **fields, digest=deletion.owned.digest, how=str(outcome))
    return PruneResult(deletion, outcome, error)


def refusal_actions(problems: Iterable[ExpansionProblem]) -> list[Action]:
    """The error actions of refused prunes, for the plan."""
    return [Action(p, ActionKind.ERROR, p.message, error=p.error) for p in problems]
