"""Unit tests of :class:`hangard.registry.limits.HostLimiter`: request slots
per host, rate pacing on an injected clock, and transfer slots taken in
sorted host order. Waits are polled with a deadline, never slept."""

from __future__ import annotations

import asyncio
import time

from hangard.registry.limits import HostLimiter
from tests.helpers_clock import FakeClock

DEADLINE = 5.0


async def until(condition: object, what: str) -> None:
    """Yield to the loop until ``condition()`` holds, or fail after DEADLINE."""
    assert callable(condition)
    end = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        await asyncio.sleep(0.001)  # poll interval


async def test_at_most_n_requests_per_host_at_once() -> None:
    limiter = HostLimiter(lambda host: 3 if host == "a" else 1)
    release = asyncio.Event()
    inside: dict[str, int] = {"a": 0, "b": 0}
    peak: dict[str, int] = {"a": 0, "b": 0}

    async def call(host: str) -> None:
        async with limiter.request(host):
            inside[host] += 1
            peak[host] = max(peak[host], inside[host])
            await release.wait()
            inside[host] -= 1

    tasks = [asyncio.create_task(call(h)) for h in ["a"] * 8 + ["b"] * 4]
    await until(lambda: inside == {"a": 3, "b": 1}, "the slots to fill")
    for _ in range(20):  # give the waiting tasks every chance to overtake
        await asyncio.sleep(0)
    assert inside == {"a": 3, "b": 1}
    release.set()
    await asyncio.wait_for(asyncio.gather(*tasks), DEADLINE)
    assert peak == {"a": 3, "b": 1}


async def test_requests_are_paced_by_the_rate_cap() -> None:
    clock = FakeClock()
    limiter = HostLimiter(lambda _h: 10, lambda h: 4.0 if h == "slow" else None, clock=clock)
    for _ in range(4):
        async with limiter.request("slow"):
            pass
        async with limiter.request("free"):
            pass
    # back to back: each start waits for the previous one's 1/4 s to pass
    assert clock.sleeps == [0.25, 0.25, 0.25]


async def test_transfer_slots_are_taken_in_sorted_order() -> None:
    """Two transfers naming the same hosts in opposite orders never deadlock:
    both take ``a`` before ``b``. While ``a`` is held, a transfer of
    ``("b", "a")`` waits for ``a`` without holding ``b``."""
    limiter = HostLimiter(lambda _h: 1)
    hold_a = asyncio.Event()
    got: list[str] = []

    async def only_a() -> None:
        async with limiter.transfer("a"):
            got.append("a")
            await hold_a.wait()

    async def both(name: str, *hosts: str) -> None:
        async with limiter.transfer(*hosts):
            got.append(name)
            await asyncio.sleep(0)

    holder = asyncio.create_task(only_a())
    await until(lambda: got == ["a"], "the first slot")
    backwards = asyncio.create_task(both("ba", "b", "a"))
    forwards = asyncio.create_task(both("ab", "a", "b"))
    for _ in range(20):
        await asyncio.sleep(0)
    # b is free: the waiting transfers hold nothing yet
    async with limiter.transfer("b"):
        got.append("b")
    hold_a.set()
    await asyncio.wait_for(asyncio.gather(holder, backwards, forwards), DEADLINE)
    assert got[:2] == ["a", "b"] and sorted(got[2:]) == ["ab", "ba"]
