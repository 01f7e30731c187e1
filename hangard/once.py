"""Each distinct lookup once: however many callers ask for the same key at
the same time or later, the work runs one time and all of them get its
result (or its error)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["Once"]

V = TypeVar("V")


class Once(Generic[V]):
    """``await once(key, make)`` runs ``make()`` for the first caller of a
    key; every caller shares that result. A caller that is cancelled does
    not cancel the work the others wait for."""

    def __init__(self) -> None:
        self._tasks: dict[Hashable, asyncio.Future[V]] = {}

    async def __call__(self, key: Hashable, make: Callable[[], Awaitable[V]]) -> V:
        task = self._tasks.get(key)
        if task is None:
            task = self._tasks[key] = asyncio.ensure_future(make())
        return await asyncio.shield(task)
