"""The sync cycle and its steps: observe digests, plan (the pure
:mod:`hangard.core.plan`), execute copies, persist what was learnt.

I/O lives here; the decisions stay in :mod:`hangard.core`. Nothing here
prints or knows about the daemon: callers plug in through
:class:`CycleHooks`.
"""

from hangard.sync.cycle import (
    CycleHooks,
    CycleResult,
    Planned,
    Save,
    SaveFailure,
    Scope,
    observe_and_plan,
    persist,
    run_cycle,
    shard_spread,
)
from hangard.sync.digestcache import DigestCache
from hangard.sync.execution import ItemOutcome, ItemResult, KeyLocks, SyncReport, execute
from hangard.sync.failed import failed_lines, write_failed_list
from hangard.sync.observation import observe
from hangard.sync.ownership import OwnershipStore
from hangard.sync.prune import PruneResult, Pruning
from hangard.sync.pushcheck import check_pushes

__all__ = [
    "CycleHooks",
    "CycleResult",
    "DigestCache",
    "ItemOutcome",
    "ItemResult",
    "KeyLocks",
    "OwnershipStore",
    "Planned",
    "PruneResult",
    "Pruning",
    "Save",
    "SaveFailure",
    "Scope",
    "SyncReport",
    "check_pushes",
    "execute",
    "failed_lines",
    "observe",
    "observe_and_plan",
    "persist",
    "run_cycle",
    "shard_spread",
    "write_failed_list",
]
