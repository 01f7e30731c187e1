"""Upload sessions that a cancellation cannot lose.

A ``POST /blobs/uploads/`` (plain, or a mount the registry may answer with a
new upload) opens a session on the registry as soon as the registry reads
it. Cancelled while its answer is on the way (a Ctrl-C, a sibling blob
failing), the caller would never learn the session's ``Location``, and the
session would be left open on the registry until its own expiry.
:func:`opened` sends such a POST so that a cancellation waits for the
answer and closes the session it opened before the cancellation goes on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import httpx

__all__ = ["opened"]

#: Closes the session an answer opened (a best-effort ``DELETE``).
Close = Callable[[httpx.Response], Awaitable[None]]


async def opened(post: Coroutine[Any, Any, httpx.Response], close: Close) -> httpx.Response:
    """The answer to ``post``. If the caller is cancelled first, the answer
    is still awaited and a session it opened (202) handed to ``close``;
    then the cancellation propagates."""
    task = asyncio.ensure_future(post)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.shield(_close_when_answered(task, close))
        raise


async def _close_when_answered(task: asyncio.Future[httpx.Response], close: Close) -> None:
    try:
        response = await task
    except Exception:
        return  # no answer, or a refusal: no session was opened
    if response.status_code == 202:
        await close(response)
