"""Running async work: the event loop hangard runs on, and mapping over
many items with a bound on how many are in flight.

The loop is uvloop's when it is installed (a sixth less CPU per request than
asyncio's own, ``bench/head_cpu.py``), else asyncio's.
``HANGARD_EVENT_LOOP=asyncio`` chooses asyncio's loop whatever is installed,
to rule uvloop out when a problem is being chased.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

__all__ = ["IN_FLIGHT", "loop_name", "map_bounded", "run"]

T = TypeVar("T")
R = TypeVar("R")

#: How many items :func:`map_bounded` works on at once by default: enough to
#: keep every registry's request slots busy, while the memory of the waiting
#: ones (a suspended coroutine stack each, a few KiB) stays small whatever the
#: item count.
IN_FLIGHT = 512

#: the environment variable that picks the loop (``uvloop`` or ``asyncio``)
ENV = "HANGARD_EVENT_LOOP"


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    if os.environ.get(ENV, "uvloop").strip().lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def loop_name() -> str:
    """``uvloop`` or ``asyncio``: the loop :func:`run` would use."""
    return "asyncio" if _loop_factory() is None else "uvloop"


def run(coro: Coroutine[Any, Any, T]) -> T:
    """:func:`asyncio.run` on the chosen loop."""
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(coro)


async def map_bounded(
    func: Callable[[T], Awaitable[R]], items: Sequence[T], limit: int = IN_FLIGHT
) -> list[R]:
    """``[await func(item) for item in items]``, at most ``limit`` at once, in
    order. Unlike a :func:`asyncio.gather` of every item, a desired state of
    10,000 items does not hold 10,000 suspended requests (and their memory)
    while the per-registry limits let a few through. The first exception is
    raised as it is; the items in flight are cancelled, and no new one starts."""
    results: dict[int, R] = {}
    queue = iter(enumerate(items))

    async def worker() -> None:
        for index, item in queue:
            results[index] = await func(item)

    workers = [asyncio.ensure_future(worker()) for _ in range(min(max(1, limit), len(items)))]
    try:
        await asyncio.gather(*workers)
    except BaseException:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        raise
    return [results[index] for index in range(len(items))]
