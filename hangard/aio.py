"""The event loop hangard runs on: uvloop's when it is installed (a sixth
less CPU per request than asyncio's own, ``bench/head_cpu.py``), else
asyncio's. ``HANGARD_EVENT_LOOP=asyncio`` chooses asyncio's loop whatever is
installed, to rule uvloop out when a problem is being chased.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["loop_name", "run"]

T = TypeVar("T")

#: the environment variable that picks the loop (``uvloop`` or ``asyncio``)
ENV = "HANGARD_EVENT_LOOP"


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    if os.environ.get(ENV, "uvloop").strip().lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def loop_name() -> str:
    """``uvloop`` or ``asyncio``: the loop :func:`run` would use."""
    return "asyncio" if _loop_factory() is None else "uvloop"


def run(coro: Coroutine[Any, Any, T]) -> T:
    """:func:`asyncio.run` on the chosen loop."""
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(coro)
