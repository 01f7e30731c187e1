"""Concurrency limits per registry host, and an optional request-rate cap.

Two kinds of slot exist, and a task only ever waits for them in this order:
a *transfer* slot (a blob stream, which holds a source GET and a target
upload open together; hosts are acquired in sorted order so two transfers
can never deadlock) and a short *request* slot (any other call). Request
slots are never held while waiting for anything else.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager

from hangard.registry.clock import SYSTEM_CLOCK, Clock

__all__ = ["HostLimiter"]


class _RateGate:
    """Spaces request starts at least ``1/rps`` seconds apart."""

    def __init__(self, rps: float, clock: Clock) -> None:
        self._interval = 1.0 / rps
        self._next = 0.0
        self._lock = asyncio.Lock()
        self._clock = clock

    async def wait(self) -> None:
        async with self._lock:
            now = self._clock.monotonic()
            delay = self._next - now
            self._next = max(now, self._next) + self._interval
        if delay > 0:
            await self._clock.sleep(delay)


class HostLimiter:
    """Request and transfer slots per host; ``limit_for(host)`` slots of each
    kind, and at most ``rate_for(host)`` request starts per second."""

    def __init__(
        self,
        limit_for: Callable[[str], int],
        rate_for: Callable[[str], float | None] = lambda _h: None,
        *,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._limit_for = limit_for
        self._rate_for = rate_for
        self._clock = clock
        self._requests: dict[str, asyncio.Semaphore] = {}
        self._transfers: dict[str, asyncio.Semaphore] = {}
        self._rates: dict[str, _RateGate | None] = {}

    def _sem(self, table: dict[str, asyncio.Semaphore], host: str) -> asyncio.Semaphore:
        sem = table.get(host)
        if sem is None:
            sem = table[host] = asyncio.Semaphore(max(1, self._limit_for(host)))
        return sem

    async def _pace(self, host: str) -> None:
        if host not in self._rates:
            rps = self._rate_for(host)
            self._rates[host] = _RateGate(rps, self._clock) if rps else None
        gate = self._rates[host]
        if gate is not None:
            await gate.wait()

    @asynccontextmanager
    async def request(self, host: str) -> AsyncIterator[None]:
        """Hold one of ``host``'s request slots, paced by its rate cap."""
        async with self._sem(self._requests, host):
            await self._pace(host)
            yield

    @asynccontextmanager
    async def transfer(self, *hosts: str) -> AsyncIterator[None]:
        """Hold a transfer slot on each of ``hosts``, taken in sorted order."""
        async with AsyncExitStack() as stack:
            for host in sorted(set(hosts)):
                await stack.enter_async_context(self._sem(self._transfers, host))
            yield
