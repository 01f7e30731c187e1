r"""Checks that need the whole desired state: two ``registries`` keys for one
host, unknown target names, entries without targets, and one destination
produced from two different sources. Problems come back as :class:`Finding` values that carry
:data:`~hangard.core.desired.Location`\ s, so the loader can point at
FILE:LINE:COL. Pure."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from hangard.core.desired import (
    DesiredState,
    ImageEntry,
    ListEntry,
    Location,
    parse_tag_spec,
    registry_host,
)
from hangard.core.fieldchecks import parse_reference
from hangard.core.reference import ImageReference, Repository

__all__ = ["ALSO_AT", "Finding", "check_references", "dotted"]

ALSO_AT = "{also_at}"


@dataclass(frozen=True)
class Finding:
    """One problem at ``where``. When it names a second place (the first
    producer of a duplicate output), ``message`` holds :data:`ALSO_AT` where
    that place goes, and ``also_at`` is it."""

    where: Location
    message: str
    also_at: Location | None = None

    def text(self, place: Callable[[Location], str] | None = None) -> str:
        """The message, with the second place written by ``place`` (by
        default as a dotted path, ``images.0.tags.1``)."""
        if self.also_at is None:
            return self.message
        return self.message.replace(ALSO_AT, (place or dotted)(self.also_at))


def check_references(state: DesiredState) -> list[Finding]:
    """Cross-field problems: two ``registries`` keys for one host, unknown
    targets, no targets at all, and a destination that two different sources
    (explicit tags and list lines) would write, reported at each of them.

    The rule for outputs: an item is (image, tag, target, destination), so
    one source tag may go to one target under two destinations. The same
    source to the same destination twice is a harmless repeat (the planner
    merges it); two different sources (another image, tag, digest pin or
    platform list) to one destination clash: the last copy would win.
    """
    problems = _same_hosts(state) + _unknown_targets(state) + _archive_prune(state)
    outputs: list[_Output] = []
    for index, entry in enumerate(state.images):
        names = entry.targets if entry.targets is not None else state.defaults.targets
        if not names:
            problems.append(
                Finding(("images", index), "no targets: set 'targets' here or in 'defaults'")
            )
        else:
            outputs += _outputs(state, index, entry, names)
    return problems + _duplicates(outputs)


def _same_hosts(state: DesiredState) -> list[Finding]:
    problems = []
    hosts: dict[str, str] = {}
    for host in state.registries:
        canonical = registry_host(host)
        if canonical in hosts:
            problems.append(
                Finding(
                    ("registries", host),
                    f"registry {host!r} is the same host as {hosts[canonical]!r}",
                )
            )
        else:
            hosts[canonical] = host
    return problems


def _archive_prune(state: DesiredState) -> list[Finding]:
    """``prune`` and ``prune_max`` apply to registry targets only."""
    return [
        Finding(("targets", name, key), f"{key} applies to registry targets, not to an archive")
        for name, target in state.targets.items()
        if target.archive is not None
        for key in sorted(target.model_fields_set & {"prune", "prune_max"})
    ]


def _unknown_targets(state: DesiredState) -> list[Finding]:
    known = set(state.targets)
    places: list[tuple[Location, str]] = [
        (("defaults", "targets", i), name) for i, name in enumerate(state.defaults.targets)
    ]
    for index, entry in enumerate(state.images):
        places += [(("images", index, "targets", j), n) for j, n in enumerate(entry.targets or [])]
    return [Finding(loc, _unknown_target(name, known)) for loc, name in places if name not in known]


class _Output(NamedTuple):
    """One destination an explicit tag or a list line produces on a target."""

    where: Location
    producer: tuple[str, tuple[str, ...]]
    """What is written there: the source reference (with its digest pin) and
    the platforms; two outputs with one destination must agree on it."""
    destination: ImageReference


def _outputs(
    state: DesiredState, index: int, entry: ImageEntry | ListEntry, names: Sequence[str]
) -> list[_Output]:
    platforms = tuple(str(p) for p in entry.platform_list(state.defaults))
    wanted: list[tuple[Location, Repository, str, str | None, str | None]] = []
    if isinstance(entry, ImageEntry) and isinstance(entry.tags, list):
        for j, spec in enumerate(entry.tags):
            tag, digest = parse_tag_spec(spec)
            loc: Location = ("images", index, "tags", j)
            wanted.append((loc, entry.repository, tag, digest, entry.destination))
    elif isinstance(entry, ListEntry):
        for line in entry.lines:
            repo = parse_reference(line.source).repository
            loc = ("images", index, "list", line.line)
            wanted.append((loc, repo, line.tag, line.digest, line.destination))
    return [
        _Output(
            loc,
            (str(ImageReference(repo.registry, repo.path, tag=tag, digest=digest)), platforms),
            target.repository_for(repo, destination).tag(tag),
        )
        for loc, repo, tag, digest, destination in wanted
        for name in names
        if (target := state.targets.get(name)) is not None
    ]


def _duplicates(outputs: Iterable[_Output]) -> list[Finding]:
    """A destination written from two different sources, reported at every
    place that writes it (each against the first, the first against the
    second); a repeat of the first's source is harmless and not reported."""
    found: list[tuple[int, Finding]] = []
    first: dict[tuple[str, str], tuple[int, _Output]] = {}
    clashed: set[tuple[str, str]] = set()
    for n, out in enumerate(outputs):
        ref = out.destination
        key = (ref.name, ref.tag or "")
        if key not in first:
            first[key] = (n, out)
            continue
        at, original = first[key]
        if out.producer == original.producer:
            continue
        found.append((n, _duplicate(out.where, ref, original.where)))
        if key not in clashed:
            clashed.add(key)
            found.append((at, _duplicate(original.where, ref, out.where)))
    return [finding for _, finding in sorted(found, key=lambda f: f[0])]


def _duplicate(where: Location, ref: ImageReference, other: Location) -> Finding:
    return Finding(where, f"duplicate output {ref}: also produced at {ALSO_AT}", other)


def dotted(loc: Location) -> str:
    """``("images", 0, "tags", 1)`` → ``images.0.tags.1``."""
    return ".".join(str(p) for p in loc)


def _unknown_target(name: str, known: set[str]) -> str:
    hint = difflib.get_close_matches(name, sorted(known), n=1)
    suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
    return f"unknown target {name!r} (known: {', '.join(sorted(known)) or 'none'}){suggestion}"
