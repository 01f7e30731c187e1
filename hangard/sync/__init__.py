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
    expand_items,
    observe_and_plan,
    persist,
    run_cycle,
)
from hangard.sync.digestcache import DigestCache
from hangard.sync.execution import ItemOutcome, ItemResult, KeyLocks, SyncReport, execute
from hangard.sync.failed import failed_lines, write_failed_list
from hangard.sync.observation import observe
from hangard.sync.pushcheck import check_pushes

__all__ = [
    "CycleHooks",
    "CycleResult",
    "DigestCache",
    "ItemOutcome",
    "ItemResult",
    "KeyLocks",
    "Planned",
    "Save",
    "SaveFailure",
    "Scope",
    "SyncReport",
    "check_pushes",
    "execute",
    "expand_items",
    "failed_lines",
    "observe",
    "observe_and_plan",
    "persist",
    "run_cycle",
    "write_failed_list",
]
