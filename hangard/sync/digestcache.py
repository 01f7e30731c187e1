"""What the planner remembers between cycles so the steady state stays one
``HEAD`` per tag: which digest a platform subset of a source index has, and
which digest a schema1 source's conversion got, which child manifests an
image's attachments hang on, which attachments were copied to each
target repository, and what each source attachment was when last re-checked
(:class:`hangard.core.rechecks.AttachmentMemory`). In memory for the daemon,
``subset-cache.json`` in the state dir between ``sync --once`` runs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hangard.atomicfile import write_atomic
from hangard.core.platform import Platform
from hangard.core.rechecks import AttachmentMemory, Referrer

__all__ = ["DigestCache"]


@dataclass
class DigestCache:
    """``(source digest, platforms)`` → the subset's digest and per-platform
    child digests (``None`` digest: no platform matched)."""

    entries: dict[str, dict[str, object]] = field(default_factory=dict)
    conversions: dict[str, str] = field(default_factory=dict)
    """schema1 source digest → the digest of its schema2 conversion."""
    subjects: dict[str, list[str]] = field(default_factory=dict)
    """``(source digest, platforms)`` key → the digests whose attachments
    travel (:func:`hangard.core.attachments.image_subjects`)."""
    attached: dict[str, dict[str, str]] = field(default_factory=dict)
    """Target repository → {attachment tag: the source digest copied there}."""
    referrers_api: dict[str, bool] = field(default_factory=dict)
    """Registry host → whether it has the referrers API (asked once)."""
    memory: AttachmentMemory = field(default_factory=AttachmentMemory)
    """The source's attachments as last checked (the re-check budget's)."""
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

    def put_subjects(
        self, source_digest: str, platforms: Sequence[Platform], digests: list[str]
    ) -> None:
        self.subjects[self.key(source_digest, platforms)] = digests
        self.dirty = True

    def copied_attachments(self, target: str) -> dict[str, str]:
        """What was copied to ``target`` (a repository): tag → source digest."""
        return self.attached.get(target, {})

    def record_attachment(self, target: str, tag: str, source_digest: str) -> None:
        if self.attached.get(target, {}).get(tag) != source_digest:
            self.attached.setdefault(target, {})[tag] = source_digest
            self.dirty = True

    @classmethod
    def load(cls, path: Path) -> DigestCache:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            data = {}
        parts = {
            name: data.get(name, {}) if isinstance(data, dict) else {}
            for name in ("entries", "conversions", "subjects", "attached", "referrers_api")
        }
        if not all(isinstance(v, dict) for v in parts.values()):
            parts = {name: {} for name in parts}
        memory = data.get("checked") if isinstance(data, dict) else None
        return cls(path=path, memory=_memory(memory), **parts)

    def save(self) -> None:
        if self.path is None or not (self.dirty or self.memory.changed):
            return
        doc = {
            "version": 1,
            "entries": self.entries,
            "conversions": self.conversions,
            "subjects": self.subjects,
            "attached": self.attached,
            "referrers_api": self.referrers_api,
            "checked": {
                "cycle": self.memory.cycle,
                "tags": self.memory.tags,
                "referrers": self.memory.referrers,
            },
        }
        write_atomic(self.path, json.dumps(doc, separators=(",", ":")))
        self.dirty = self.memory.changed = False


def _memory(doc: Any) -> AttachmentMemory:
    """The memory as saved (compact: ``[digest, cycle]`` per tag); what does
    not parse is forgotten (those attachments are then looked at again)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("cycle"), int):
        return AttachmentMemory()
    tags: dict[str, dict[str, tuple[str, int]]] = {}
    for repo, known in _dict(doc.get("tags")).items():
        tags[repo] = {
            tag: (seen[0], seen[1])
            for tag, seen in _dict(known).items()
            if _pair(seen, str) and ":" in seen[0]
        }
    referrers: dict[str, dict[str, tuple[tuple[Referrer, ...], int]]] = {}
    for repo, known in _dict(doc.get("referrers")).items():
        referrers[repo] = {
            subject: (tuple((d, t) for d, t in seen[0]), seen[1])
            for subject, seen in _dict(known).items()
            if _pair(seen, list) and all(_strings(r) for r in seen[0])
        }
    return AttachmentMemory(doc["cycle"], tags, referrers)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _pair(value: Any, first: type) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], first)
        and isinstance(value[1], int)
    )


def _strings(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)
