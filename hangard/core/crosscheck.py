r"""Checks that need the whole desired state: two ``registries`` keys for one
host, unknown target names, entries without targets, and outputs produced
twice. Problems come back as :class:`Finding` values that carry
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
    parse_reference,
    parse_tag_spec,
    registry_host,
)
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
    targets, no targets at all, and duplicate (image, tag, target) outputs
    among explicit tags and list lines."""
    problems = _same_hosts(state) + _unknown_targets(state)
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


def _unknown_targets(state: DesiredState) -> list[Finding]:
    known = set(state.targets)
    places: list[tuple[Location, str]] = [
        (("defaults", "targets", i), name) for i, name in enumerate(state.defaults.targets)
    ]
    for index, entry in enumerate(state.images):
        places += [(("images", index, "targets", j), n) for j, n in enumerate(entry.targets or [])]
    return [Finding(loc, _unknown_target(name, known)) for loc, name in places if name not in known]


class _Output(NamedTuple):
    """One (image, tag, target) an explicit tag or a list line produces."""

    where: Location
    image: str
    tag: str
    target: str
    destination: ImageReference


def _outputs(
    state: DesiredState, index: int, entry: ImageEntry | ListEntry, names: Sequence[str]
) -> list[_Output]:
    wanted: list[tuple[Location, Repository, str, str | None]] = []
    if isinstance(entry, ImageEntry) and isinstance(entry.tags, list):
        for j, spec in enumerate(entry.tags):
            tag, _ = parse_tag_spec(spec)
            wanted.append((("images", index, "tags", j), entry.repository, tag, entry.destination))
    elif isinstance(entry, ListEntry):
        for line in entry.lines:
            repo = parse_reference(line.source).repository
            wanted.append((("images", index, "list", line.line), repo, line.tag, line.destination))
    return [
        _Output(loc, str(repo), tag, name, target.repository_for(repo, destination).tag(tag))
        for loc, repo, tag, destination in wanted
        for name in names
        if (target := state.targets.get(name)) is not None
    ]


def _duplicates(outputs: Iterable[_Output]) -> list[Finding]:
    problems = []
    seen: dict[tuple[str, str], Location] = {}
    seen_items: dict[tuple[str, str, str], Location] = {}
    for out in outputs:
        ref = out.destination
        key = (ref.name, ref.tag or "")
        item = (out.image, out.tag, out.target)
        if key in seen:
            problems.append(
                Finding(out.where, f"duplicate output {ref}: also produced at {ALSO_AT}", seen[key])
            )
        elif item in seen_items:
            problems.append(
                Finding(
                    out.where,
                    f"{out.image}:{out.tag} goes to target {out.target!r} twice (also at "
                    f"{ALSO_AT}); each (image, tag, target) must be unique: it names the "
                    "item in plans, state and metrics",
                    seen_items[item],
                )
            )
        else:
            seen[key] = out.where
            seen_items[item] = out.where
    return problems


def dotted(loc: Location) -> str:
    """``("images", 0, "tags", 1)`` → ``images.0.tags.1``."""
    return ".".join(str(p) for p in loc)


def _unknown_target(name: str, known: set[str]) -> str:
    hint = difflib.get_close_matches(name, sorted(known), n=1)
    suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
    return f"unknown target {name!r} (known: {', '.join(sorted(known)) or 'none'}){suggestion}"
