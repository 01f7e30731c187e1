"""How far a copy follows an index: a hostile or broken source can nest
indexes or fan them out without bound, and each level costs requests."""

from __future__ import annotations

from hangard.core.manifest import Manifest
from hangard.errors import InvalidManifestError

__all__ = ["MAX_INDEX_CHILDREN", "MAX_INDEX_DEPTH", "check_fanout"]

#: Levels of index (the top one included) a copy follows; real images use
#: one, rarely two. A deeper one is refused before its children are fetched.
MAX_INDEX_DEPTH = 4
#: Entries of one index, and distinct child manifests of one copy.
MAX_INDEX_CHILDREN = 1000


def check_fanout(index: Manifest, depth: int, image: str) -> None:
    """Refuse an index nested or fanned out beyond what any image needs,
    before a single request is made for its children."""
    if depth > MAX_INDEX_DEPTH:
        raise InvalidManifestError(
            f"index {image} is nested more than {MAX_INDEX_DEPTH} levels of index deep"
        )
    if len(index.children) > MAX_INDEX_CHILDREN:
        raise InvalidManifestError(
            f"index {image} lists {len(index.children)} manifests, "
            f"more than the {MAX_INDEX_CHILDREN} a copy follows"
        )
