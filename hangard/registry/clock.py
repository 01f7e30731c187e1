"""The time source of the registry layer, injectable so tests never wait.

:class:`Clock` is what the retry loop, the rate gate, the token cache and the
credential cache read the time from and sleep on. :class:`SystemClock` is the
real one; a test passes its own that records sleeps and jumps ahead instead.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

__all__ = ["SYSTEM_CLOCK", "Clock", "SystemClock"]


class Clock(Protocol):
    """Monotonic time for intervals, wall time for HTTP dates, and sleep."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (intervals, deadlines)."""
        ...

    def time(self) -> float:
        """Seconds since the epoch (to read ``Retry-After: <HTTP-date>``)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``; zero or less returns at once."""
        ...


class SystemClock:
    """The real clock: :func:`time.monotonic`, :func:`time.time`, :func:`asyncio.sleep`."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        if seconds > 0:
            await asyncio.sleep(seconds)


SYSTEM_CLOCK: Clock = SystemClock()
