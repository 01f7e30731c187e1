"""The failed list: items that failed, in Hangar's mirror-list format, so
the file reads back as a ``list:`` entry that retries exactly those."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from hangard.atomicfile import write_atomic
from hangard.core.plan import SyncItem
from hangard.sync.execution import ItemOutcome, ItemResult

__all__ = ["failed_lines", "write_failed_list"]

HEADER = "# hangard: items that failed in the last sync; format SOURCE DEST TAG\n"


def failed_lines(results: Iterable[ItemResult]) -> list[str]:
    """Failed items as ``SOURCE DEST TAG`` lines, grouped under a
    ``# target: NAME (REGISTRY)`` comment per target.

    DEST is the repository path on the target and TAG carries the digest
    that was planned (``TAG@sha256:…``), so the file reads back as a
    ``list:`` entry with that target to retry exactly these.
    """
    by_target: dict[tuple[str, str], set[str]] = {}
    for result in results:
        item = result.action.item
        if result.outcome is not ItemOutcome.FAILED or not isinstance(item, SyncItem):
            continue
        digest = item.source.digest or result.action.source_digest
        tag = f"{item.tag}@{digest}" if digest else item.tag
        line = f"{item.source.repository} {item.destination.path} {tag}"
        by_target.setdefault((item.target, item.destination.registry), set()).add(line)
    lines: list[str] = []
    for (target, registry), entries in sorted(by_target.items()):
        lines.append(f"# target: {target} ({registry})")
        lines.extend(sorted(entries))
    return lines


def write_failed_list(path: Path, results: Iterable[ItemResult]) -> int:
    """Write the failed items (or remove a stale file when none failed);
    return how many were listed."""
    lines = failed_lines(results)
    if not lines:
        path.unlink(missing_ok=True)
        return 0
    write_atomic(path, HEADER + "\n".join(lines) + "\n")
    return sum(1 for line in lines if not line.startswith("#"))
