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
  or referrers fallback tag (``sha256-<hex>``) that hangard wrote is owned
  with the image digests it was copied with (an index, for its children's
  signatures). It is never deleted on its own: only as an orphan of an owned
  image tag that leaves the selection (deleted this cycle, or already gone
  from the target), when neither its subject nor any image it was copied
  with is kept (another selected tag with the same digest keeps it), and,
  checked as it is deleted, no tag left on the target holds them. An
  attachment of an image whose deletion fails or is kept stays, and so does
  the image's row, so the next cycle tries again.
* **Shards.** An instance decides only repositories whose every writer
  (source repository, target) its shard owns.
* **The cap.** When a target would lose more than ``prune_max`` image tags
  in one cycle (default: 10% of the image tags hangard owns there, or 20,
  whichever is larger), nothing is deleted on it, attachments included; the
  cycle fails with reason ``prune_refused``
  (:class:`~hangard.errors.PruneRefusedError`). Attachment tags count
  neither as deletions nor as owned tags: they only ever go with an image
  the cap already let through, so counting them would only make the cap
  depend on how many signatures each image has.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated

from pydantic import Field

from hangard.core.desired import DesiredState, ImageEntry, ListEntry, Target
from hangard.core.fieldchecks import parse_reference
from hangard.core.plan import ActionKind, ExpansionProblem, SyncItem, short_digest
from hangard.core.reference import ImageReference
from hangard.core.shard import Shard
from hangard.errors import PruneRefusedError

__all__ = [
    "ATTACHMENT_CAUSE",
    "DEFAULT_PRUNE_FLOOR",
    "Deletion",
    "Owned",
    "PruneMax",
    "PruneScope",
    "attachment_subject",
    "image_rows",
    "orphans_possible",
    "prune_cap",
    "prune_refusal",
    "prune_scope",
    "select_deletions",
    "selected_tags",
]

DEFAULT_PRUNE_FLOOR = 20
"""The default cap is 10% of a target's owned tags, but never below this."""

ATTACHMENT_CAUSE = "attachment of an image no longer selected"
"""A deleted attachment's cause, in the plan: ``delete (...)``."""

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
    attached_to: frozenset[str] = field(default=frozenset(), compare=False)
    """For an attachment tag: the digests of the images it was copied with."""

    @property
    def subject(self) -> str | None:
        """The digest this attachment tag attaches to; ``None`` for an image tag."""
        return attachment_subject(self.tag)

    @property
    def links(self) -> frozenset[str]:
        """An attachment's subject and the images it was copied with."""
        subject = self.subject
        return self.attached_to | ({subject} if subject else set())


@dataclass(frozen=True)
class Deletion:
    """A planned deletion of an owned tag."""

    owned: Owned
    cause: str = "no longer selected"
    kind: ActionKind = ActionKind.DELETE
    of: tuple[Owned, ...] = ()
    """For an attachment: the owned image rows whose leaving orphans it (it
    goes only if each of them that is deleted this cycle is)."""

    @property
    def target(self) -> str:
        return self.owned.target

    @property
    def attachment(self) -> bool:
        return self.owned.subject is not None

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
) -> tuple[list[Deletion], list[Owned]]:
    """For the owned rows of one target repository: the deletions (image
    tags first, then the attachments they orphan), and the rows to forget
    (their tag is gone from the target already).

    ``selected``: the tags the desired state selects there now; ``current``:
    the tags the target lists; ``kept_digests``: digests of the images kept
    there (an attachment of one of them is never deleted).
    """
    present = set(current)
    images = [o for o in owned if o.subject is None and o.tag not in selected]
    going = [o for o in images if o.tag in present]
    vanished = [o for o in images if o.tag not in present]
    kept = set(kept_digests) | {o.digest for o in owned if o.tag in selected}
    orphaning = [o for o in [*going, *vanished] if o.digest not in kept]
    deletions = [Deletion(o) for o in sorted(going)]
    for row in sorted(owned):
        if row.subject is None or row.tag not in present or row.tag in selected:
            continue
        links = row.links
        of = tuple(o for o in orphaning if o.digest in links)
        if of and not links & kept:
            deletions.append(Deletion(row, ATTACHMENT_CAUSE, of=of))
    forget = [o for o in owned if o.tag not in present and o.tag not in selected]
    return deletions, sorted(forget)


def orphans_possible(owned: Iterable[Owned], selected: set[str]) -> bool:
    """Whether some owned image tag of a repository has left ``selected``
    (only then can anything there be deleted, attachments included)."""
    return any(o.subject is None and o.tag not in selected for o in owned)


def image_rows(owned: Iterable[Owned]) -> list[Owned]:
    """The owned image tags (what the cap counts), without attachment tags."""
    return [o for o in owned if o.subject is None]


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
    where = (
        "prune_max"
        if prune_max is not None
        else "the default cap (10% of owned image tags, min 20)"
    )
    return PruneRefusedError(
        f"prune of target {target} refused: {deletions} tags would be deleted (attachments "
        f"not counted), more than "
        f"{where} of {cap}; nothing was deleted",
        remedy=(
            f"if the config or the source is wrong, fix it; if the deletions are intended, "
            f"raise targets.{target}.prune_max to {deletions} for one cycle, or run with "
            "--no-prune to copy without pruning"
        ),
    )
