"""Plan and execute a desired state: the I/O around :mod:`hangard.core.plan`."""

from hangard.sync.execute import ItemOutcome, ItemResult, KeyLocks, SyncReport, execute
from hangard.sync.observe import SubsetCache, observe
from hangard.sync.run import compute_plan, sync_once

__all__ = [
    "ItemOutcome",
    "ItemResult",
    "KeyLocks",
    "SubsetCache",
    "SyncReport",
    "compute_plan",
    "execute",
    "observe",
    "sync_once",
]
