"""Concurrency limits per registry host, and an optional request-rate cap.

``max_concurrency: N`` means at most N requests in flight to the host, all
kinds together: every request, blob streams and uploads included, holds one
of the host's N slots. A blob *transfer* (a source GET and a target upload
open together) takes its slots up front: one for each end (two when source
and target are the same host), the hosts in sorted order and each host's
share at once, so two transfers can never deadlock. The requests a transfer
then makes on those hosts use its slots instead of taking more (a context
variable says which hosts the running task holds). A request slot is never
held while waiting for anything else.

A transfer whose ends need more slots of one host than it has (both ends on
a host with ``max_concurrency: 1``) does not :meth:`~HostLimiter.fits`: the
copier then never opens both ends at once: in one slot of the host, it
spools the blob to a temporary file, closes the download, and uploads from
the file (:mod:`hangard.copy.spool`).

``requests_per_second`` paces the start of every request to the host,
inside a transfer too.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

from hangard.registry.clock import SYSTEM_CLOCK, Clock

__all__ = ["HostLimiter"]

#: The hosts whose slots the running task holds through a transfer.
_HELD: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar(
    "hangard_held_hosts", default=frozenset()
)


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


class _Slots:
    """A counting semaphore whose holders take one or more slots at once,
    first come, first served (a big request is never starved by small ones)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._free = capacity
        self._waiters: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()

    async def acquire(self, count: int) -> int:
        """Take ``count`` slots (at most the capacity); returns how many."""
        count = max(1, min(count, self.capacity))
        if not self._waiters and self._free >= count:
            self._free -= count
            return count
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (count, future)
        self._waiters.append(entry)
        try:
            await future
        except BaseException:
            if future.done() and not future.cancelled():
                self.release(count)  # granted as we were cancelled: give it back
            else:
                if entry in self._waiters:
                    self._waiters.remove(entry)
                self._wake()
            raise
        return count

    def release(self, count: int) -> None:
        self._free += count
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self._waiters[0][0] <= self._free:
            count, future = self._waiters.popleft()
            if future.done():
                continue
            self._free -= count
            future.set_result(None)


class _Slot:
    """:meth:`HostLimiter.request`: a class, not a generator-based context
    manager, as it is entered around every request."""

    __slots__ = ("_host", "_limiter", "_release")

    def __init__(self, limiter: HostLimiter, host: str) -> None:
        self._limiter = limiter
        self._host = host

    async def __aenter__(self) -> None:
        self._release = await self._limiter.acquire(self._host)

    async def __aexit__(self, *exc: object) -> None:
        self._release()


class HostLimiter:
    """``limit_for(host)`` slots per host, shared by every kind of request,
    and at most ``rate_for(host)`` request starts per second."""

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
        self._slots: dict[str, _Slots] = {}
        self._rates: dict[str, _RateGate | None] = {}

    def _host(self, host: str) -> _Slots:
        slots = self._slots.get(host)
        if slots is None:
            slots = self._slots[host] = _Slots(max(1, self._limit_for(host)))
        return slots

    async def _pace(self, host: str) -> None:
        if host not in self._rates:
            rps = self._rate_for(host)
            self._rates[host] = _RateGate(rps, self._clock) if rps else None
        gate = self._rates[host]
        if gate is not None:
            await gate.wait()

    async def acquire(self, host: str) -> Callable[[], None]:
        """Take a slot of ``host`` for one request (none if the running task
        holds the host through a transfer) and wait for its pace; returns the
        release, for a request whose answer outlives the call (a stream)."""
        if host in _HELD.get():
            await self._pace(host)
            return lambda: None
        slots = self._host(host)
        await slots.acquire(1)
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                slots.release(1)

        try:
            await self._pace(host)
        except BaseException:
            release()
            raise
        return release

    def request(self, host: str) -> AbstractAsyncContextManager[None]:
        """Hold a slot of ``host`` (see :meth:`acquire`) for the block."""
        return _Slot(self, host)

    @staticmethod
    def _wanted(hosts: tuple[str, ...]) -> collections.Counter[str]:
        held = _HELD.get()
        return collections.Counter(h for h in hosts if h not in held)

    def fits(self, *hosts: str) -> bool:
        """Whether a transfer between ``hosts`` (one per end) gets a slot for
        every end: not when two ends share a host that has fewer slots."""
        return all(n <= self._host(h).capacity for h, n in self._wanted(hosts).items())

    @asynccontextmanager
    async def transfer(self, *hosts: str) -> AsyncIterator[None]:
        """Hold the slots of a blob transfer between ``hosts`` (see the
        module); a transfer that does not :meth:`fits` is a programming error."""
        if not self.fits(*hosts):
            raise ValueError(f"a transfer between {hosts} needs more slots than the host has")
        held = _HELD.get()
        wanted = self._wanted(hosts)
        async with AsyncExitStack() as stack:
            for host in sorted(wanted):
                slots = self._host(host)
                taken = await slots.acquire(wanted[host])
                stack.callback(slots.release, taken)
            token = _HELD.set(held | frozenset(wanted))
            try:
                yield
            finally:
                _HELD.reset(token)
