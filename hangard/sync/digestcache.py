"""What the planner remembers between cycles so the steady state stays one
``HEAD`` per tag: which digest a platform subset of a source index has, and
which digest a schema1 source's conversion got. In memory for the daemon,
``subset-cache.json`` in the state dir between ``sync --once`` runs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hangard.atomicfile import write_atomic
from hangard.core.platform import Platform

__all__ = ["DigestCache"]


@dataclass
class DigestCache:
    """``(source digest, platforms)`` → the subset's digest and per-platform
    child digests (``None`` digest: no platform matched)."""

    entries: dict[str, dict[str, object]] = field(default_factory=dict)
    conversions: dict[str, str] = field(default_factory=dict)
    """schema1 source digest → the digest of its schema2 conversion."""
    path: Path | None = None
    dirty: bool = False

    def converted(self, source_digest: str) -> str | None:
        return self.conversions.get(source_digest)

    def record_conversion(self, source_digest: str, target_digest: str) -> None:
        if self.conversions.get(source_digest) != target_digest:
            self.conversions[source_digest] = target_digest
            self.dirty = True

    @staticmethod
    def key(source_digest: str, platforms: Sequence[Platform]) -> str:
        return source_digest + "|" + ",".join(sorted(str(p) for p in platforms))

    def get(self, source_digest: str, platforms: Sequence[Platform]) -> dict[str, object] | None:
        return self.entries.get(self.key(source_digest, platforms))

    def put(
        self,
        source_digest: str,
        platforms: Sequence[Platform],
        digest: str | None,
        children: dict[str, str],
    ) -> None:
        self.entries[self.key(source_digest, platforms)] = {"digest": digest, "children": children}
        self.dirty = True

    @classmethod
    def load(cls, path: Path) -> DigestCache:
        try:
            data = json.loads(path.read_text())
            entries = data.get("entries", {}) if isinstance(data, dict) else {}
            conversions = data.get("conversions", {}) if isinstance(data, dict) else {}
        except (OSError, ValueError):
            entries, conversions = {}, {}
        if not isinstance(entries, dict) or not isinstance(conversions, dict):
            entries, conversions = {}, {}
        return cls(entries=entries, conversions=conversions, path=path)

    def save(self) -> None:
        if self.path is None or not self.dirty:
            return
        doc = {"version": 1, "entries": self.entries, "conversions": self.conversions}
        write_atomic(self.path, json.dumps(doc))
        self.dirty = False
