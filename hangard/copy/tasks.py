"""Structured concurrency for one copy: the parts of an image succeed
together or not at all, and a failed (or cancelled) copy leaves no transfer
running behind it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Sequence
from typing import Any, TypeVar

__all__ = ["all_or_none"]

T = TypeVar("T")


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
        for task in tasks:  # mark every other error as retrieved
            if task is not failed and task.done() and not task.cancelled():
                task.exception()
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
