"""A fake :class:`hangard.registry.clock.Clock` for tests: sleeping records
the delay and moves time forward at once, so a retry schedule is checked
without being waited out."""

from __future__ import annotations

import asyncio


class FakeClock:
    """Starts at monotonic 1000 s and wall time 1.7e9 s (a fixed "now")."""

    def __init__(self, *, monotonic: float = 1000.0, wall: float = 1_700_000_000.0) -> None:
        self.now = monotonic
        self.wall = wall
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.wall

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.wall += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if seconds > 0:
            self.advance(seconds)
        await asyncio.sleep(0)  # still a suspension point, as a real sleep is
