"""What a ``save`` puts in an archive: one :class:`SaveItem` per image, from
image references, a Hangar list's lines, or a desired-state file.

Pure: the caller reads the list file and lists the tags that a desired
state's tag rules need; the tag rules themselves are the planner's
(:func:`hangard.core.plan.expand`), not re-implemented here.

An image keeps its source name in the archive (``docker.io/library/nginx``
with its tag, as Hangar writes ``source`` and ``tag``): a list's ``DEST`` and
a desired state's targets and mappings only matter when loading.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from hangard.config.hangarlist import digest_tag
from hangard.core.desired import DesiredState, ListLine
from hangard.core.plan import ExpansionProblem, expand
from hangard.core.platform import Platform
from hangard.core.policy import Requirement, Trust
from hangard.core.reference import DEFAULT_TAG, ImageReference, Repository, parse_reference
from hangard.errors import HangardError

__all__ = ["SaveItem", "from_desired", "from_lines", "from_references", "with_policy"]


@dataclass(frozen=True, order=True)
class SaveItem:
    """One image to save: where it is read from, the name and tag it gets
    in the archive, and the platforms to keep (empty: all)."""

    source: ImageReference
    """Tag and/or digest: a pinned digest is what is copied."""
    name: ImageReference
    """The repository and tag in the archive (never a digest)."""
    platforms: tuple[Platform, ...] = ()
    requirements: tuple[Requirement, ...] = field(default=(), compare=False)
    """What the signature policy wants of it, checked at the source before
    it is written (empty: nothing)."""


def _named(source: ImageReference, platforms: Sequence[Platform]) -> SaveItem:
    if source.tag:
        tag = source.tag
    elif source.digest:
        tag = digest_tag(source.digest)
    else:
        tag = DEFAULT_TAG
    return SaveItem(source, source.repository.tag(tag), tuple(platforms))


def _unique(items: Iterable[SaveItem]) -> list[SaveItem]:
    """One item per archive name, the first kept (a name saved twice would
    be overwritten by the second)."""
    seen: dict[ImageReference, SaveItem] = {}
    for item in items:
        seen.setdefault(item.name, item)
    return list(seen.values())


def from_references(
    refs: Iterable[ImageReference], platforms: Sequence[Platform] = ()
) -> list[SaveItem]:
    """Images named on the command line; a name without tag is ``latest``."""
    return _unique(_named(ref, platforms) for ref in refs)


def from_lines(lines: Iterable[ListLine], platforms: Sequence[Platform] = ()) -> list[SaveItem]:
    """A Hangar list's lines (``DEST`` is ignored: it is a load-side rename)."""
    items = []
    for line in lines:
        repo = parse_reference(line.source).repository
        source = ImageReference(repo.registry, repo.path, tag=line.tag, digest=line.digest)
        items.append(SaveItem(source, repo.tag(line.tag), tuple(platforms)))
    return _unique(items)


def from_desired(
    state: DesiredState,
    tag_lists: Mapping[Repository, Sequence[str] | HangardError],
    platforms: Sequence[Platform] = (),
) -> tuple[list[SaveItem], list[ExpansionProblem]]:
    """Everything ``state`` selects, whatever its targets: each source tag
    once, with its entry's platforms (``platforms``, when given, wins).

    ``tag_lists`` maps each :func:`~hangard.core.plan.pattern_repositories`
    repository to its tags or to the error listing them raised; an entry
    whose tags could not be listed comes back as a problem (once per image).
    """
    items, problems = expand(state, tag_lists)
    saved = [
        SaveItem(
            item.source,
            item.source.repository.tag(item.tag),
            tuple(platforms) or item.platforms,
            item.requirements,
        )
        for item in items
    ]
    once: dict[str, ExpansionProblem] = {}
    for problem in problems:
        once.setdefault(problem.image, problem)
    return _unique(saved), list(once.values())


def with_policy(items: Iterable[SaveItem], trust: Trust) -> list[SaveItem]:
    """Named or listed images with what the policy's scopes want of them
    (no entry's ``verify.keys`` applies: they come from no entry)."""
    return [replace(i, requirements=trust.requirements(i.source, ())) for i in items]
