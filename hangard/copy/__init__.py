"""The copy engine: one image (or index) from a source to a target,
digest-preserving, bottom-up, each blob once, verified while it streams.
It knows nothing of plans, schedules or the desired state."""

from hangard.copy.blobs import BlobOutcome, BlobStats, TransferSession
from hangard.copy.engine import NO_PLATFORM_MATCH, Copier, CopyResult
from hangard.copy.progress import NullProgress, Progress
from hangard.copy.verify import verify_copy_source

__all__ = [
    "NO_PLATFORM_MATCH",
    "BlobOutcome",
    "BlobStats",
    "Copier",
    "CopyResult",
    "NullProgress",
    "Progress",
    "TransferSession",
    "verify_copy_source",
]
