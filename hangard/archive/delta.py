"""Delta archives: ``save --since OLD.zip`` leaves out the layers OLD holds
and records OLD (its name and the sha256 of its ``index.json``) as
``hangardBase``; ``load`` of a delta needs those layers at the target or in
``--base OLD.zip``, and checks that before it pushes anything.

Manifests and configs are always written (they are small, and an archive's
index is built from them); only layers are left out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from hangard.archive.verify import SHARE_PREFIX, read_index
from hangard.core.archive import INDEX_NAME, ArchiveIndex, BaseRef, ListEntry, share_name
from hangard.errors import ArchiveError
from hangard.stores.archive.opened import INDEX_LIMIT
from hangard.stores.archive.zipio import ZipReader

__all__ = ["Base", "check_base", "lacking", "read_base"]


@dataclass(frozen=True)
class Base:
    """What a delta needs to know of its base archive."""

    path: Path
    ref: BaseRef
    layers: frozenset[str]
    """Every layer its images list."""
    sizes: dict[str, int]
    """Each share blob it holds, by digest, with its size."""


def read_base(path: Path) -> Base:
    """Blocking: ``path``'s index digest, layers and blobs."""
    with ZipReader.open(path) as reader:
        if INDEX_NAME not in reader.entries:
            raise ArchiveError(f"{reader.where}: no {INDEX_NAME}: not a Hangar archive")
        raw = reader.read(INDEX_NAME, limit=INDEX_LIMIT)
        index = read_index(reader)
        sizes = {
            "sha256:" + name.removeprefix(SHARE_PREFIX): entry.size
            for name, entry in reader.entries.items()
            if name.startswith(SHARE_PREFIX)
        }
    layers = frozenset(d for e in index.entries for s in e.images for d in s.layers)
    ref = BaseRef(name=path.name, index_sha256=hashlib.sha256(raw).hexdigest())
    return Base(path, ref, layers, sizes)


def check_base(delta: ArchiveIndex, base: Base, where: Path) -> None:
    """Refuse a base that is not the one ``delta`` was made against."""
    if delta.base is None:
        raise ArchiveError(f"{where} is not a delta archive: it needs no --base")
    if delta.base.index_sha256 != base.ref.index_sha256:
        raise ArchiveError(
            f"{base.path} is not the base {where} was made against "
            f"(it needs {delta.base.name} with index.json sha256:{delta.base.index_sha256})"
        )


def lacking(entries: Iterable[ListEntry], held: set[str]) -> dict[str, list[str]]:
    """Each image's blobs the archive does not hold (``held``: its share
    entry names), by image name."""
    missing: dict[str, list[str]] = {}
    for entry in entries:
        absent = [d for d in entry.blobs if share_name(d) not in held]
        if absent:
            missing[entry.name] = absent
    return missing
