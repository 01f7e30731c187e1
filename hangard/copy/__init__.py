"""The copy engine: digest-preserving, bottom-up, streamed."""

from hangard.copy.blobs import BlobOutcome, BlobStats, TransferSession
from hangard.copy.engine import NO_PLATFORM_MATCH, Copier, CopyResult
from hangard.copy.progress import NullProgress, Progress

__all__ = [
    "NO_PLATFORM_MATCH",
    "BlobOutcome",
    "BlobStats",
    "Copier",
    "CopyResult",
    "NullProgress",
    "Progress",
    "TransferSession",
]
