"""Work shared by several copies (:class:`hangard.copy.tasks.SharedWork`):
one task per key, which a waiter's cancellation never cancels for the
others; the last waiter to leave cancels it; a failure is retried by a
later call. Pure asyncio: the tasks are the test's own futures."""

from __future__ import annotations

import asyncio

import pytest

from hangard.copy.tasks import SharedWork


async def test_a_cancelled_waiter_does_not_cancel_the_shared_task() -> None:
    work: SharedWork[str, int] = SharedWork()
    gate = asyncio.Event()
    starts: list[int] = []

    async def job() -> int:
        starts.append(1)
        await gate.wait()
        return 42

    first = asyncio.ensure_future(work.run("k", lambda: asyncio.ensure_future(job())))
    second = asyncio.ensure_future(work.run("k", lambda: asyncio.ensure_future(job())))
    await asyncio.sleep(0)  # one loop turn: both now wait on the one task
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    gate.set()
    assert await second == (42, False)
    assert starts == [1]
    assert await work.run("k", lambda: asyncio.ensure_future(job())) == (42, False)


async def test_the_last_waiter_to_leave_cancels_the_task_and_waits_for_it() -> None:
    work: SharedWork[str, int] = SharedWork()
    cleaned = asyncio.Event()

    async def job() -> int:
        try:
            await asyncio.Event().wait()
        finally:
            cleaned.set()
        return 0

    waiter = asyncio.ensure_future(work.run("k", lambda: asyncio.ensure_future(job())))
    await asyncio.sleep(0)  # one loop turn: the waiter now waits on the task
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert cleaned.is_set(), "the task's cleanup ran before the waiter returned"
    restarted = await asyncio.wait_for(
        work.run("k", lambda: asyncio.ensure_future(asyncio.sleep(0, 7))), 5
    )
    assert restarted == (7, True)


async def test_a_failed_task_is_started_again_by_a_later_call() -> None:
    work: SharedWork[str, int] = SharedWork()

    async def fail() -> int:
        raise OSError("disk full")

    async def succeed() -> int:
        return 1

    with pytest.raises(OSError, match="disk full"):
        await work.run("k", lambda: asyncio.ensure_future(fail()))
    assert await work.run("k", lambda: asyncio.ensure_future(succeed())) == (1, True)
