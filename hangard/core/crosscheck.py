r"""Checks that need the whole desired state: two ``registries`` keys for one
host, unknown target names, entries without targets, and outputs produced
twice. Problems come back as :class:`Finding` values that carry
:data:`~hangard.core.desired.Location`\ s, so the loader can point at
FILE:LINE:COL. Pure."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

from hangard.core.desired import (
    DesiredState,
    ImageEntry,
    ListEntry,
    Location,
    parse_reference,
    parse_tag_spec,
    registry_host,
)
from hangard.core.reference import ImageReference

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
    problems: list[Finding] = []
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
    known = set(state.targets)
    for i, name in enumerate(state.defaults.targets):
        if name not in known:
            problems.append(Finding(("defaults", "targets", i), _unknown_target(name, known)))
    seen: dict[tuple[str, str], Location] = {}
    seen_items: dict[tuple[str, str, str], Location] = {}
    for index, entry in enumerate(state.images):
        names = entry.targets if entry.targets is not None else state.defaults.targets
        for j, name in enumerate(entry.targets or []):
            if name not in known:
                problems.append(
                    Finding(("images", index, "targets", j), _unknown_target(name, known))
                )
        if not names:
            problems.append(
                Finding(("images", index), "no targets: set 'targets' here or in 'defaults'")
            )
            continue
        # (location, source repo, tag, target name, destination)
        outputs: list[tuple[Location, str, str, str, ImageReference]] = []
        if isinstance(entry, ImageEntry) and isinstance(entry.tags, list):
            repo = entry.repository
            for j, spec in enumerate(entry.tags):
                tag, _ = parse_tag_spec(spec)
                for name in names:
                    target = state.targets.get(name)
                    if target is not None:
                        dest = target.repository_for(repo, entry.destination)
                        loc: Location = ("images", index, "tags", j)
                        outputs.append((loc, str(repo), tag, name, dest.tag(tag)))
        elif isinstance(entry, ListEntry):
            for line in entry.lines:
                repo = parse_reference(line.source).repository
                for name in names:
                    target = state.targets.get(name)
                    if target is not None:
                        dest = target.repository_for(repo, line.destination)
                        loc = ("images", index, "list", line.line)
                        outputs.append((loc, str(repo), line.tag, name, dest.tag(line.tag)))
        for loc, image, tag, name, ref in outputs:
            key = (ref.name, ref.tag or "")
            item = (image, tag, name)
            if key in seen:
                problems.append(
                    Finding(loc, f"duplicate output {ref}: also produced at {ALSO_AT}", seen[key])
                )
            elif item in seen_items:
                problems.append(
                    Finding(
                        loc,
                        f"{image}:{tag} goes to target {name!r} twice (also at {ALSO_AT}); "
                        "each (image, tag, target) must be unique: it names the item in "
                        "plans, state and metrics",
                        seen_items[item],
                    )
                )
            else:
                seen[key] = loc
                seen_items[item] = loc
    return problems


def dotted(loc: Location) -> str:
    """``("images", 0, "tags", 1)`` → ``images.0.tags.1``."""
    return ".".join(str(p) for p in loc)


def _unknown_target(name: str, known: set[str]) -> str:
    hint = difflib.get_close_matches(name, sorted(known), n=1)
    suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
    return f"unknown target {name!r} (known: {', '.join(sorted(known)) or 'none'}){suggestion}"
