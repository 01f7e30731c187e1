"""Concurrency limits per registry host, and an optional request-rate cap.

Two kinds of slot exist, and a task only ever waits for them in this order:
a *transfer* slot (a blob stream, which holds a source GET and a target
upload open together; hosts are acquired in sorted order so two transfers
can never deadlock) and a short *request* slot (any other call). Request
slots are never held while waiting for anything else.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager

__all__ = ["HostLimiter"]


class _RateGate:
    """Spaces request starts at least ``1/rps`` seconds apart."""

    def __init__(self, rps: float) -> None:
        self._interval = 1.0 / rps
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self._lock:
            now = time.monotonic()
            delay = self._next - now
            self._next = max(now, self._next) + self._interval
        if delay > 0:
            await asyncio.sleep(delay)


class HostLimiter:
    def __init__(
        self,
        limit_for: Callable[[str], int],
        rate_for: Callable[[str], float | None] = lambda _h: None,
    ) -> None:
        self._limit_for = limit_for
        self._rate_for = rate_for
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
            self._rates[host] = _RateGate(rps) if rps else None
        gate = self._rates[host]
        if gate is not None:
            await gate.wait()

    @asynccontextmanager
    async def request(self, host: str) -> AsyncIterator[None]:
        async with self._sem(self._requests, host):
            await self._pace(host)
            yield

    @asynccontextmanager
    async def transfer(self, *hosts: str) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for host in sorted(set(hosts)):
                await stack.enter_async_context(self._sem(self._transfers, host))
            yield
