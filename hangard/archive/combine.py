"""``hangard archive merge`` and ``export``: archive → archive copies of
whole images (each blob once in the result), committed when all are in.
A Hangar-made multi-platform entry is carried as the index Hangar's load
rebuilds (its digest then differs from the original's, as at any load)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hangard.archive.listing import list_archive
from hangard.archive.verify import read_index
from hangard.copy import Copier, CopyResult
from hangard.core.desired import ListLine
from hangard.core.reference import parse_reference
from hangard.core.transports import ArchiveReference
from hangard.errors import HangardError, InputError
from hangard.registry.client import RegistryClient
from hangard.stores.archive.opened import ArchiveSet
from hangard.stores.archive.zipio import ZipReader

Prefer = Literal["first", "last"]

__all__ = ["Carried", "Clash", "Prefer", "carry", "merge_inputs", "pick"]


@dataclass(frozen=True)
class Carried:
    """What a merge or export wrote."""

    output: Path
    results: tuple[CopyResult, ...]
    failures: tuple[tuple[str, HangardError], ...]

    @property
    def ok(self) -> bool:
        return not self.failures


def pick(
    path: Path, lines: Iterable[ListLine] | None
) -> tuple[list[tuple[Path, str, str]], list[ListLine]]:
    """``(archive, source, tag)`` of every image in ``path``, or of those
    the list names; and the lines it does not hold. Blocking."""
    rows = list_archive(path).images
    if lines is None:
        return [(path, r.source, r.tag) for r in rows], []
    held = {(parse_reference(r.source).repository, r.tag): r for r in rows}
    chosen, missing = [], []
    for line in lines:
        row = held.get((parse_reference(line.source).repository, line.tag))
        if row is None:
            missing.append(line)
        else:
            chosen.append((path, row.source, row.tag))
    return chosen, missing


def _check_output(images: Sequence[tuple[Path, str, str]], output: Path) -> None:
    if output.exists() or output.with_name(output.name + ".001").exists():
        raise InputError(f"{output} exists", remedy="choose another -o, or remove it")
    if output.resolve() in {p.resolve() for p, _, _ in images}:
        raise InputError(f"{output} is also an input")


async def carry(
    client: RegistryClient, images: Sequence[tuple[Path, str, str]], output: Path
) -> Carried:
    """Copy ``images`` (archive, source, tag) into a new archive ``output``."""
    _check_output(images, output)
    archives = ArchiveSet()
    copier = Copier(client, archives=archives)
    results: list[CopyResult] = []
    failures: list[tuple[str, HangardError]] = []
    try:
        for path, source, tag in images:  # one at a time: one writer either way
            try:
                results.append(
                    await copier.copy(
                        ArchiveReference(str(path), source, tag),
                        ArchiveReference(str(output), source, tag),
                    )
                )
            except HangardError as exc:
                failures.append((f"{source}:{tag}", exc))
        if not failures:
            await copier.commit()
    finally:
        await copier.close()
    return Carried(output, tuple(results), tuple(failures))


@dataclass(frozen=True)
class Clash:
    """One name (source and tag) that two inputs hold with different content."""

    name: str
    kept: tuple[Path, str]
    """The input whose image the merge takes, and its digest."""
    dropped: tuple[Path, str]

    def line(self) -> str:
        (kept, kept_digest), (dropped, dropped_digest) = self.kept, self.dropped
        return f"{self.name}: {kept} has {kept_digest}, {dropped} has {dropped_digest}"


def _identities(path: Path) -> list[tuple[str, str, str]]:
    """``(source, tag, digest)`` of each image: the digest a load gives it,
    or for a Hangar multi-platform entry its platform manifests. Blocking."""
    with ZipReader.open(path) as reader:
        index = read_index(reader)
    return [
        (e.source, e.tag, e.index.digest if e.index else ",".join(s.digest for s in e.images))
        for e in index.entries
    ]


async def merge_inputs(
    paths: Sequence[Path], prefer: Prefer = "first"
) -> tuple[list[tuple[Path, str, str]], list[Clash]]:
    """Every image of every input, each name once: one held by several
    inputs is taken from the first (``prefer="last"``: the last); and every
    name two inputs hold with different digests."""
    seen: dict[tuple[str, str], tuple[Path, str]] = {}
    clashes: list[Clash] = []
    for path in paths:
        for source, tag, digest in await asyncio.to_thread(_identities, path):
            held = seen.get((source, tag))
            if held is not None and held[1] != digest:
                now = (path, digest)
                kept, dropped = (held, now) if prefer == "first" else (now, held)
                clashes.append(Clash(f"{source}:{tag}", kept, dropped))
            if held is None or prefer == "last":
                seen[source, tag] = (path, digest)
    return [(path, source, tag) for (source, tag), (path, _) in seen.items()], clashes
