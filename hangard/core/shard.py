"""Shards: which of N hangard instances owns which image-targets.

Pure. An instance is shard ``I`` of ``N`` (``--shard I/N``,
``HANGARD_SHARD=I/N``, or a StatefulSet pod's ordinal with
``HANGARD_SHARDS=N``). It owns the items whose (source repository, target)
pair hashes to it by rendezvous (highest-random-weight) hashing: each shard
scores the pair and the highest score wins. So

* every tag of one repository for one target lands on one shard, which
  keeps blob de-duplication and cross-repository mounts within a shard;
* the answer needs no coordination: every instance computes the same owner
  from the same desired state;
* when N changes, an item moves only if the new shard outscores its owner:
  about 1/N of the items move (to the new shard), the rest stay put.

The score is a keyed BLAKE2b of the pair and the shard number: stable across
processes, machines and Python versions (``hash()`` is salted per process).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

__all__ = [
    "MARKER_ANNOTATION",
    "MARKER_REPOSITORY",
    "MARKER_TAG",
    "Owned",
    "Shard",
    "ShardSpread",
    "marker_count",
    "marker_manifest",
    "mine",
    "owner",
    "parse_shard",
    "shard_from_hostname",
    "spread",
]

MAX_SHARDS = 1024


@dataclass(frozen=True, order=True)
class Shard:
    """Shard ``index`` of ``count`` (0-based)."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_SHARDS:
            raise ValueError(f"the shard count must be 1 to {MAX_SHARDS}, not {self.count}")
        if not 0 <= self.index < self.count:
            raise ValueError(
                f"shard {self.index} does not exist in {self.count} shard(s): "
                f"use 0 to {self.count - 1}"
            )

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def owns(self, repository: str, target: str) -> bool:
        """Whether this shard owns ``repository`` on ``target``."""
        return self.count == 1 or owner(repository, target, self.count) == self.index


class Owned(Protocol):
    """Anything sharded: an item, or an entry's problem, of one repository
    on one target."""

    @property
    def image(self) -> str: ...

    @property
    def target(self) -> str: ...


T = TypeVar("T", bound=Owned)


def mine(shard: Shard | None, things: Sequence[T]) -> list[T]:
    """The ones ``shard`` owns (all of them without a shard)."""
    if shard is None or shard.count == 1:
        return list(things)
    return [t for t in things if shard.owns(t.image, t.target)]


def _score(repository: str, target: str, shard: int) -> int:
    key = f"{repository}\0{target}\0{shard}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")


def owner(repository: str, target: str, count: int) -> int:
    """The shard of ``count`` that owns ``repository`` on ``target``."""
    return max(range(count), key=lambda shard: _score(repository, target, shard))


def spread(pairs: Iterable[tuple[str, str]], count: int) -> Counter[int]:
    """How many of ``pairs`` (repository, target) each of ``count`` shards
    owns; every shard appears, with 0 when it owns nothing."""
    counts: Counter[int] = Counter(dict.fromkeys(range(count), 0))
    counts.update(owner(repo, target, count) for repo, target in pairs)
    return counts


_SHARD = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


def parse_shard(text: str) -> Shard:
    """``I/N`` as a :class:`Shard`; ``ValueError`` with the reason otherwise."""
    match = _SHARD.fullmatch(text)
    if not match:
        raise ValueError(f"{text!r} is not a shard: write I/N, like 0/3 (the first of three)")
    return Shard(int(match.group(1)), int(match.group(2)))


_ORDINAL = re.compile(r".*?-(\d+)")


def shard_from_hostname(hostname: str, count: int) -> Shard:
    """The shard of a StatefulSet pod: its ordinal is the number after the
    last dash of its hostname (``hangard-2`` → 2)."""
    match = _ORDINAL.fullmatch(hostname.split(".", 1)[0])
    if not match:
        raise ValueError(
            f"the hostname {hostname!r} has no StatefulSet ordinal (NAME-ORDINAL); "
            "set HANGARD_SHARD=I/N instead"
        )
    return Shard(int(match.group(1)), count)


@dataclass(frozen=True)
class ShardSpread:
    """How the items of a desired state spread over ``count`` shards
    (``hangard plan --shards N``)."""

    count: int
    items: Counter[int]
    """Items (image, tag, target, destination) per shard."""
    pairs: Counter[int]
    """(repository, target) pairs per shard: the unit that is assigned."""
    problems: list[str] = field(default_factory=list)
    """Entries whose tags could not be listed (their items are not counted)."""

    @classmethod
    def of(cls, things: Sequence[Owned], count: int, problems: Sequence[str] = ()) -> ShardSpread:
        pairs = {(t.image, t.target) for t in things}
        owners = {pair: owner(*pair, count) for pair in pairs}
        items: Counter[int] = Counter(dict.fromkeys(range(count), 0))
        items.update(owners[(t.image, t.target)] for t in things)
        return cls(count, items, spread(pairs, count), list(problems))

    @property
    def total(self) -> int:
        return sum(self.items.values())

    @property
    def largest_share(self) -> float:
        """The largest shard's share of the items (``1/count`` is even)."""
        return max(self.items.values()) / self.total if self.total else 0.0

    def lines(self) -> list[str]:
        out = [
            f"shard {i}/{self.count}: {self.items[i]} items ({self.pairs[i]} repository-targets)"
            for i in range(self.count)
        ]
        out += [f"error: {p}" for p in self.problems]
        out.append(
            f"shards: {self.total} items over {self.count}; the largest shard holds "
            f"{self.largest_share:.0%} (even: {1 / self.count:.0%})"
        )
        return out

    def as_dict(self) -> dict[str, object]:
        return {
            "shards": self.count,
            "items": self.total,
            "per_shard": [
                {"shard": i, "items": self.items[i], "repository_targets": self.pairs[i]}
                for i in range(self.count)
            ],
            "largest_share": round(self.largest_share, 4),
            "problems": self.problems,
        }


# --- the shard-count marker ---------------------------------------------------
#
# Shard 0 records N in a tiny OCI artifact in the first registry target
# (by name): MARKER_REPOSITORY:MARKER_TAG, its count in an annotation. Every
# sharded instance reads it once per cycle and warns when its own N differs,
# so a peer started with another HANGARD_SHARDS is noticed (and
# HangardShardCountMismatch alerts on hangard_shard_info across instances).

MARKER_REPOSITORY = "hangard/shards"
MARKER_TAG = "count"
MARKER_ANNOTATION = "io.hangard.shards"
EMPTY_JSON = b"{}"
EMPTY_JSON_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY_JSON_DIGEST = "sha256:" + hashlib.sha256(EMPTY_JSON).hexdigest()


def marker_manifest(count: int) -> bytes:
    """The marker's manifest bytes for ``count`` shards (its one blob is
    ``{}``, :data:`EMPTY_JSON_DIGEST`)."""
    empty = {"mediaType": EMPTY_JSON_MEDIA_TYPE, "digest": EMPTY_JSON_DIGEST, "size": 2}
    doc = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.hangard.shards.v1",
        "config": empty,
        "layers": [empty],
        "annotations": {MARKER_ANNOTATION: str(count)},
    }
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def marker_count(raw: bytes) -> int | None:
    """The shard count a marker records; ``None`` when it is not one."""
    try:
        value = json.loads(raw)["annotations"][MARKER_ANNOTATION]
        count = int(value)
    except (ValueError, TypeError, KeyError):
        return None
    return count if 1 <= count <= MAX_SHARDS else None
