"""Opt-in pruning, decided: which target tags hangard may delete. Pure.

Design
------
* **Opt-in.** ``prune: true`` on a target prunes every repository hangard
  writes there; ``prune: true|false`` on an entry overrides it for the
  repositories the entry writes to. A repository several entries write to
  is pruned only if every one of them says so. A repository no entry writes
  to any more (the entry was removed) follows its target's ``prune``.
* **Ownership.** Only a tag hangard wrote is ever deleted: the state dir's
  ownership store (:mod:`hangard.sync.ownership`) records
  ``(target, repository, tag, digest)`` right after each push. No record,
  no deletion: a lost state dir deletes nothing, and the plan says so.
* **Selection.** A tag is kept while the desired state selects it (the same
  :func:`hangard.core.plan.expand` the copies use). Deleted are owned tags
  it no longer selects: the source dropped the tag, or the rule stopped
  matching. A repository is decided only when this cycle knows its whole
  selection: every entry writing there (through any target) prunes, is on
  the cycle's schedules and had its tags listed (a failed listing prunes
  nothing).
* **Attachments.** A cosign tag (``sha256-<hex>.sig``, ``.att``, ``.sbom``)
  or referrers fallback tag (``sha256-<hex>``) is never deleted on its own:
  only when hangard owns it and deletes the image it is attached to, and no
  kept tag points at that image.
* **Shards.** An instance decides only repositories whose every writer
  (source repository, target) its shard owns.
* **The cap.** When a target would lose more than ``prune_max`` tags in one
  cycle (default: 10% of the tags hangard owns there, or 20, whichever is
  larger), nothing is deleted on it; the cycle fails with reason
  ``prune_refused`` (:class:`~hangard.errors.PruneRefusedError`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated

from pydantic import Field

from hangard.core.desired import DesiredState, ImageEntry, ListEntry, Target, parse_reference
from hangard.core.plan import ActionKind, ExpansionProblem, SyncItem, short_digest
from hangard.core.reference import ImageReference
from hangard.core.shard import Shard
from hangard.errors import PruneRefusedError

__all__ = [
    "DEFAULT_PRUNE_FLOOR",
    "Deletion",
    "Owned",
    "PruneMax",
    "PruneScope",
    "attachment_subject",
    "prune_cap",
    "prune_refusal",
    "prune_scope",
    "select_deletions",
    "selected_tags",
]

DEFAULT_PRUNE_FLOOR = 20
"""The default cap is 10% of a target's owned tags, but never below this."""

PruneMax = Annotated[int, Field(ge=0)]
"""``prune_max``: at most this many deletions per target and cycle."""

_ATTACHMENT = re.compile(r"^(sha256)-([0-9a-f]{64})(?:\.(?:sig|att|sbom))?$")


def attachment_subject(tag: str) -> str | None:
    """The digest ``tag`` attaches to (``sha256-<hex>.sig`` → ``sha256:<hex>``),
    or ``None`` for an ordinary tag."""
    m = _ATTACHMENT.match(tag)
    return f"{m.group(1)}:{m.group(2)}" if m else None


@dataclass(frozen=True, order=True)
class Owned:
    """A tag hangard wrote: one row of the ownership store."""

    target: str
    repository: str
    """``HOST/PATH`` on the target registry."""
    tag: str
    digest: str
    written_at: float = field(default=0.0, compare=False)


@dataclass(frozen=True)
class Deletion:
    """A planned deletion of an owned tag."""

    owned: Owned
    cause: str = "no longer selected"
    kind: ActionKind = ActionKind.DELETE

    @property
    def target(self) -> str:
        return self.owned.target

    @property
    def reference(self) -> ImageReference:
        return parse_reference(f"{self.owned.repository}:{self.owned.tag}")

    def describe(self) -> str:
        return f"delete ({self.cause})"

    def render(self) -> str:
        o = self.owned
        return f"{o.repository}:{o.tag}  [{o.target}]  {self.describe()} {short_digest(o.digest)}"

    def as_dict(self) -> dict[str, object]:
        o = self.owned
        return {
            "image": o.repository,
            "tag": o.tag,
            "target": o.target,
            "action": self.kind.value,
            "cause": self.cause,
            "reason": None,
            "destination": f"{o.repository}:{o.tag}",
            "target_digest": o.digest,
        }


@dataclass(frozen=True)
class PruneScope:
    """Where one cycle may prune. A repository (``HOST/PATH``) some entry
    writes is decided when every (entry, target) writing it prunes, is on
    the cycle's schedules and had its tags listed, on the targets writing it;
    one no entry writes any more, on each target that prunes."""

    verdicts: Mapping[str, bool]
    """Each repository some entry writes: whether this cycle decides it."""
    writers: Mapping[str, frozenset[str]]
    """Each such repository: the targets writing it."""
    orphans: frozenset[str]
    """Targets that prune the repositories no entry writes."""

    def decides(self, target: str, repository: str) -> bool:
        if repository in self.verdicts:
            return self.verdicts[repository] and target in self.writers[repository]
        return target in self.orphans

    @property
    def targets(self) -> frozenset[str]:
        decided = (self.writers[r] for r, ok in self.verdicts.items() if ok)
        return frozenset().union(*decided) | self.orphans


def _entry_repositories(entry: ImageEntry | ListEntry, target: Target) -> set[str]:
    if target.registry is None:
        return set()
    if isinstance(entry, ImageEntry):
        return {str(target.repository_for(entry.repository, entry.destination))}
    return {
        str(target.repository_for(parse_reference(line.source).repository, line.destination))
        for line in entry.lines
    }


def _entry_sources(entry: ImageEntry | ListEntry) -> set[str]:
    if isinstance(entry, ImageEntry):
        return {str(entry.repository)}
    return {str(parse_reference(line.source).repository) for line in entry.lines}


def prune_scope(
    state: DesiredState,
    problems: Iterable[ExpansionProblem] = (),
    only: frozenset[str] | None = None,
    shard: Shard | None = None,
) -> PruneScope:
    """Which (target, repository) pairs this cycle decides: see
    :class:`PruneScope`. ``only``: the cycle's schedules (``None``: all);
    ``shard``: this instance's shard, which decides a repository only when
    it owns every (source, target) writing there."""
    failed = {(p.image, p.target) for p in problems}
    verdicts: dict[str, bool] = {}
    writers: dict[str, set[str]] = {}
    for entry in state.images:
        names = entry.targets if entry.targets is not None else state.defaults.targets
        in_cycle = only is None or state.schedule_of(entry) in only
        for name in names:
            target = state.targets.get(name)
            if target is None or target.registry is None:
                continue
            ok = (target.prune if entry.prune is None else entry.prune) and in_cycle
            sources = _entry_sources(entry)
            ok = ok and not any((s, name) in failed for s in sources)
            ok = ok and (shard is None or all(shard.owns(s, name) for s in sources))
            for repo in _entry_repositories(entry, target):
                verdicts[repo] = verdicts.get(repo, True) and ok
                writers.setdefault(repo, set()).add(name)
    orphans = frozenset(n for n, t in state.targets.items() if t.prune and t.registry is not None)
    return PruneScope(verdicts, {r: frozenset(n) for r, n in writers.items()}, orphans)


def selected_tags(items: Iterable[SyncItem]) -> dict[str, set[str]]:
    """Each repository → the tags the desired state selects there (on any target)."""
    out: dict[str, set[str]] = {}
    for item in items:
        dest = item.destination
        if isinstance(dest, ImageReference) and dest.tag:
            out.setdefault(str(dest.repository), set()).add(dest.tag)
    return out


def select_deletions(
    owned: Sequence[Owned],
    selected: set[str],
    current: Iterable[str],
    kept_digests: Iterable[str] = (),
) -> tuple[list[Owned], list[Owned]]:
    """For the owned rows of one target repository: the tags to delete, and
    the rows to forget (their tag is gone from the target already).

    ``selected``: the tags the desired state selects there now; ``current``:
    the tags the target lists; ``kept_digests``: digests of the images kept
    there (an attachment of one of them is never deleted).
    """
    present = set(current)
    kept = set(kept_digests)
    forget = [o for o in owned if o.tag not in present and o.tag not in selected]
    candidates = [o for o in owned if o.tag in present and o.tag not in selected]
    images = [o for o in candidates if attachment_subject(o.tag) is None]
    kept |= {o.digest for o in owned if o.tag in selected}
    going = {o.digest for o in images} - kept
    attachments = [
        o
        for o in candidates
        if (subject := attachment_subject(o.tag)) is not None
        and subject in going
        and subject not in kept
    ]
    return sorted(images + attachments), sorted(forget)


def prune_cap(managed: int, prune_max: int | None) -> int:
    """The most deletions one cycle may make on a target hangard owns
    ``managed`` tags of."""
    if prune_max is not None:
        return prune_max
    return max(managed // 10, DEFAULT_PRUNE_FLOOR)


def prune_refusal(
    target: str, deletions: int, managed: int, prune_max: int | None
) -> PruneRefusedError | None:
    """The error of a prune past its cap, or ``None`` when within it."""
    cap = prune_cap(managed, prune_max)
    if deletions <= cap:
        return None
    where = "prune_max" if prune_max is not None else "the default cap (10% of owned tags, min 20)"
    return PruneRefusedError(
        f"prune of target {target} refused: {deletions} tags would be deleted, more than "
        f"{where} of {cap}; nothing was deleted",
        remedy=(
            f"if the config or the source is wrong, fix it; if the deletions are intended, "
            f"raise targets.{target}.prune_max to {deletions} for one cycle, or run with "
            "--no-prune to copy without pruning"
        ),
    )
