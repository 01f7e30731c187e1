"""Structured concurrency for copies: the parts of an image succeed
together or not at all, a failed (or cancelled) copy leaves no transfer
running behind it, and work shared by several copies (one blob for two
images) survives any one of them being cancelled."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from typing import Any, Generic, TypeVar

__all__ = ["SharedWork", "all_or_none"]

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


class SharedWork(Generic[K, T]):
    """One task per key, shared by every caller that needs it at once.

    A caller's cancellation is its own: the task is shielded from it and goes
    on for the others. The last caller to stop waiting for an unfinished task
    cancels it and waits until it has cleaned up. A task that failed or was
    cancelled is forgotten, so a later call starts it again; one that
    succeeded is kept, and later calls get its result at once.
    """

    def __init__(self) -> None:
        self._tasks: dict[K, asyncio.Future[T]] = {}
        self._waiters: dict[K, int] = {}

    async def run(self, key: K, start: Callable[[], asyncio.Future[T]]) -> tuple[T, bool]:
        """The result of ``key``'s task, started with ``start()`` when there
        is none; and whether this call started it."""
        task = self._tasks.get(key)
        first = task is None
        if task is None:
            task = self._tasks[key] = start()
        self._waiters[key] = self._waiters.get(key, 0) + 1
        try:
            return await asyncio.shield(task), first
        except BaseException:
            failed = task.done() and (task.cancelled() or task.exception() is not None)
            if failed:
                self._forget(key, task)
            raise
        finally:
            await self._leave(key, task)

    def _forget(self, key: K, task: asyncio.Future[T]) -> None:
        if self._tasks.get(key) is task:
            self._tasks.pop(key)

    async def _leave(self, key: K, task: asyncio.Future[T]) -> None:
        left = self._waiters.pop(key) - 1
        if left:
            self._waiters[key] = left
            return
        if task.done():
            return
        task.cancel()
        self._forget(key, task)
        await asyncio.wait([task])


async def all_or_none(awaitables: Iterable[Awaitable[T]]) -> list[T]:
    """Run ``awaitables`` concurrently and return their results in order.

    The first failure cancels the others, waits until they have finished
    (their cleanup included: an upload cancelled here DELETEs its session
    before this returns) and is then raised. When the caller is cancelled,
    every part is cancelled and awaited the same way.

    Unlike :class:`asyncio.TaskGroup` the error is raised as it is, not in an
    ``ExceptionGroup``, so ``except HangardError`` keeps working.
    """
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    if not tasks:
        return []
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    except asyncio.CancelledError:
        await _cancel_and_wait(tasks)
        raise
    failed = next((t for t in tasks if t.done() and not t.cancelled() and t.exception()), None)
    if failed is not None:
        await _cancel_and_wait(tasks)
        error = failed.exception()
        assert error is not None
        raise error
    return [t.result() for t in tasks]


async def _cancel_and_wait(tasks: Sequence[asyncio.Future[Any]]) -> None:
    pending = [t for t in tasks if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)
    # mark every error as retrieved, also when the caller was cancelled
    # while a part had already failed (asyncio would log it, traceback and all)
    for task in tasks:
        if not task.cancelled():
            task.exception()
