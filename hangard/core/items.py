"""The items the desired state asks for: one per (image, tag, target,
destination) (:data:`ItemKey`). Pure.

One source tag may go to one target under two destinations, and both are
copied; only an exact repeat (the same source to the same destination) is
merged. :func:`pattern_repositories` says which source repositories need a
tag list (the caller fetches them); :func:`expand` makes the
:class:`SyncItem` values from the state and those lists. The plan
(:mod:`hangard.core.plan`) decides what to do with each.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property

from hangard.core.attachments import AttachmentSettings
from hangard.core.desired import (
    DesiredState,
    ImageEntry,
    ListEntry,
    TagRules,
    Target,
    parse_tag_spec,
)
from hangard.core.platform import Platform
from hangard.core.policy import Requirement
from hangard.core.reference import ImageReference, Repository, parse_reference
from hangard.core.shard import Shard
from hangard.core.tags import select_tags
from hangard.core.transports import ArchiveReference, StoreReference
from hangard.errors import HangardError, OperationError

__all__ = [
    "ExpansionProblem",
    "ItemKey",
    "LabelKey",
    "SyncItem",
    "expand",
    "pattern_repositories",
]

ItemKey = tuple[str, str, str, str]
"""``(image, tag, target, destination)``: what names an item in plans, locks,
the daemon's history and ``/status``. The metrics label an item by the first
three only (:data:`LabelKey`)."""

LabelKey = tuple[str, str, str]
"""``(image, tag, target)``: the metrics labels of an item."""


@dataclass(frozen=True, order=True)
class SyncItem:
    """One output the desired state asks for."""

    image: str
    """The source repository (``docker.io/library/nginx``): the metrics label."""
    tag: str
    target: str
    source: ImageReference
    destination: StoreReference
    """A registry repository, or for an archive target the image's name in it."""
    platforms: tuple[Platform, ...] = ()
    schedule: str = ""
    explicit: bool = True
    """Named by the config (a tag or list line), not by a pattern: missing, it fails, not skips."""
    requirements: tuple[Requirement, ...] = field(default=(), compare=False)  # before copying
    attachments: AttachmentSettings | None = field(default=None, compare=False)
    """What travels with the image (``None``: nothing)."""

    @cached_property
    def key(self) -> ItemKey:
        """Made once per item: a cycle asks for it many times."""
        return (self.image, self.tag, self.target, str(self.destination))


@dataclass(frozen=True)
class ExpansionProblem:
    """An entry whose tags could not be listed: one error per target."""

    image: str
    target: str
    error: HangardError
    """Why listing failed."""
    schedule: str = ""

    @property
    def key(self) -> ItemKey:
        """No destination: the tags, and so the destinations, are unknown."""
        return (self.image, "*", self.target, "")

    @property
    def message(self) -> str:
        return str(self.error)


def _entry_targets(state: DesiredState, entry: ImageEntry | ListEntry) -> list[str]:
    return list(entry.targets if entry.targets is not None else state.defaults.targets)


def pattern_repositories(
    state: DesiredState, schedules: frozenset[str] | None = None, shard: Shard | None = None
) -> list[Repository]:
    """Source repositories whose tags must be listed (pattern selections),
    optionally only for entries on ``schedules`` and with a target ``shard``
    owns."""
    repos = {
        entry.repository
        for entry in state.images
        if isinstance(entry, ImageEntry)
        and isinstance(entry.tags, TagRules)
        and (schedules is None or state.schedule_of(entry) in schedules)
        and (
            shard is None
            or any(shard.owns(str(entry.repository), t) for t in _entry_targets(state, entry))
        )
    }
    return sorted(repos)


def expand(
    state: DesiredState,
    tag_lists: Mapping[Repository, Sequence[str] | HangardError],
) -> tuple[list[SyncItem], list[ExpansionProblem]]:
    """Every (image, tag, target, destination) the state asks for, sorted.

    An exact repeat (one source tag sent to one destination twice, e.g. by
    an entry and a list line) is one item, explicit if either is: a config
    that names the tag wants it to exist.

    ``tag_lists`` maps each of :func:`pattern_repositories` to its tags, or to
    the error that listing them raised.
    """
    items: list[SyncItem] = []
    errors: list[ExpansionProblem] = []
    for entry in state.images:
        platforms = entry.platform_list(state.defaults)
        settings = entry.attachments or state.defaults.attachments
        attached = settings if settings.enabled else None
        schedule = state.schedule_of(entry)
        targets = [state.targets[n] for n in _entry_targets(state, entry) if n in state.targets]
        names = [n for n in _entry_targets(state, entry) if n in state.targets]
        wanted: list[tuple[Repository, str, str | None, str | None]] = []
        explicit = True
        if isinstance(entry, ImageEntry):
            repo = entry.repository
            if isinstance(entry.tags, TagRules):
                listed = tag_lists.get(repo)
                if listed is None or isinstance(listed, HangardError):
                    error = listed or OperationError("tags were not listed")
                    errors.extend(ExpansionProblem(str(repo), n, error, schedule) for n in names)
                    continue
                wanted = [
                    (repo, t, None, entry.destination) for t in select_tags(listed, entry.tags)
                ]
                explicit = False
            else:
                for spec in entry.tags:
                    tag, digest = parse_tag_spec(spec)
                    wanted.append((repo, tag, digest, entry.destination))
        else:
            for line in entry.lines:
                repo = parse_reference(line.source).repository
                wanted.append((repo, line.tag, line.digest, line.destination))
        for repo, tag, digest, destination in wanted:
            source = ImageReference(repo.registry, repo.path, tag=tag, digest=digest)
            for name, target in zip(names, targets, strict=True):
                dest = _destination(target, repo, destination, tag)
                item = SyncItem(str(repo), tag, name, source, dest, platforms, schedule, explicit)
                item = replace(item, requirements=state.trust.of(source, entry, state.defaults))
                items.append(replace(item, attachments=attached))
    unique: dict[ItemKey, SyncItem] = {}
    for item in items:
        kept = unique.setdefault(item.key, item)
        if item.explicit and not kept.explicit:
            unique[item.key] = item
    return sorted(unique.values()), errors


def _destination(
    target: Target, repo: Repository, destination: str | None, tag: str
) -> StoreReference:
    """Where ``repo:tag`` goes on ``target``; in an archive, its own name."""
    if target.archive is not None:
        return ArchiveReference(target.archive, str(repo), tag)
    return target.repository_for(repo, destination).tag(tag)
