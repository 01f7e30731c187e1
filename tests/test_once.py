"""``Once``: each distinct lookup runs once, and every caller shares it."""

from __future__ import annotations

import asyncio

import pytest

from hangard.once import Once


async def test_concurrent_callers_of_one_key_share_one_run() -> None:
    runs: list[str] = []
    gate = asyncio.Event()

    async def make(key: str) -> str:
        runs.append(key)
        await gate.wait()
        return key.upper()

    once: Once[str] = Once()

    def start(key: str) -> asyncio.Future[str]:
        return asyncio.ensure_future(once(key, lambda: make(key)))

    waiting = [start(k) for k in "aab"]
    await asyncio.sleep(0)  # let all three start waiting
    gate.set()
    assert await asyncio.gather(*waiting) == ["A", "A", "B"]
    assert sorted(runs) == ["a", "b"]
    assert await once("a", lambda: make("a")) == "A"  # later callers too
    assert sorted(runs) == ["a", "b"]


async def test_an_error_is_shared_and_not_retried() -> None:
    calls = 0

    async def fail() -> int:
        nonlocal calls
        calls += 1
        raise ValueError("boom")

    once: Once[int] = Once()
    for _ in range(2):
        with pytest.raises(ValueError, match="boom"):
            await once("k", fail)
    assert calls == 1


async def test_a_cancelled_caller_does_not_cancel_the_others() -> None:
    gate = asyncio.Event()

    async def make() -> int:
        await gate.wait()
        return 7

    once: Once[int] = Once()
    first = asyncio.ensure_future(once("k", make))
    second = asyncio.ensure_future(once("k", make))
    await asyncio.sleep(0)
    first.cancel()
    gate.set()
    assert await second == 7
    assert first.cancelled()
