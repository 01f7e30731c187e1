"""The failed list: items that failed, in Hangar's mirror-list format, so
the file reads back as a ``list:`` entry that retries exactly those."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from hangard.atomicfile import write_atomic
from hangard.core.plan import SyncItem
from hangard.core.reference import ImageReference
from hangard.core.transports import ARCHIVE_PREFIX, OCI_PREFIX, ArchiveReference
from hangard.sync.execution import ItemOutcome, ItemResult

__all__ = [
    "FailedEntry",
    "failed_entries",
    "failed_lines",
    "render_entries",
    "write_entries",
    "write_failed_list",
]

HEADER = "# hangard: items that failed in the last sync; format SOURCE DEST TAG\n"


FailedEntry = tuple[str, str, str, str, str]
"""``(target, target registry, source repository, destination path, tag)``;
the tag carries the planned digest when known (``TAG@sha256:…``)."""


def failed_entries(results: Iterable[ItemResult]) -> list[FailedEntry]:
    """The failed items of a sync report, as entries of the list."""
    entries = []
    for result in results:
        item = result.action.item
        if result.outcome is not ItemOutcome.FAILED or not isinstance(item, SyncItem):
            continue
        digest = item.source.digest or result.action.source_digest
        tag = f"{item.tag}@{digest}" if digest else item.tag
        where, path = _place(item)
        entries.append((item.target, where, str(item.source.repository), path, tag))
    return entries


def _place(item: SyncItem) -> tuple[str, str]:
    """The target's registry and the destination path; for an archive, the
    archive (``hangar-archive:FILE``) and the source's path (its name there)."""
    dest = item.destination
    if isinstance(dest, ImageReference):
        return dest.registry, dest.path
    if isinstance(dest, ArchiveReference):
        return f"{ARCHIVE_PREFIX}{dest.path}", item.source.path
    return f"{OCI_PREFIX}{dest.directory}", item.source.path


def failed_lines(results: Iterable[ItemResult]) -> list[str]:
    """Failed items as ``SOURCE DEST TAG`` lines (see :func:`render_entries`)."""
    return render_entries(failed_entries(results))


def render_entries(entries: Iterable[FailedEntry]) -> list[str]:
    """``SOURCE DEST TAG`` lines, grouped under a ``# target: NAME
    (REGISTRY)`` comment per target.

    DEST is the repository path on the target and TAG carries the digest
    that was planned (``TAG@sha256:…``), so the file reads back as a
    ``list:`` entry with those targets to retry exactly these. A line that
    failed on several targets is written once (under the first, the others
    named in a comment): read back with those targets it goes to each.
    """
    by_line: dict[str, set[tuple[str, str]]] = {}
    for target, registry, source, dest, tag in entries:
        by_line.setdefault(f"{source} {dest} {tag}", set()).add((target, registry))
    by_target: dict[tuple[str, str], list[str]] = {}
    for line, targets in by_line.items():
        first, *others = sorted(targets)
        also = f"  # also failed on: {', '.join(t for t, _ in others)}" if others else ""
        by_target.setdefault(first, []).append(line + also)
    lines: list[str] = []
    for (target, registry), found in sorted(by_target.items()):
        lines.append(f"# target: {target} ({registry})")
        lines.extend(sorted(found))
    return lines


def write_failed_list(path: Path, results: Iterable[ItemResult]) -> int:
    """Write the failed items of a report (or remove a stale file when none
    failed); return how many were listed."""
    return write_entries(path, failed_entries(results))


def write_entries(path: Path, entries: Iterable[FailedEntry]) -> int:
    """Write the list (or remove a stale file when it is empty); return how
    many lines it holds."""
    lines = render_entries(entries)
    if not lines:
        path.unlink(missing_ok=True)
        return 0
    write_atomic(path, HEADER + "\n".join(lines) + "\n")
    return sum(1 for line in lines if not line.startswith("#"))
