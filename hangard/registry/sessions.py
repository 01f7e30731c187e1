"""Upload sessions that a cancellation cannot lose.

A ``POST /blobs/uploads/`` (plain, or a mount the registry may answer with a
new upload) opens a session on the registry as soon as the registry reads
it. Cancelled while its answer is on the way (a Ctrl-C, a sibling blob
failing), the caller would never learn the session's ``Location``, and the
session would stay open on the registry until its own expiry.
:func:`opened` sends such a POST so that a cancellation waits for the
answer and closes the session it opened before the cancellation goes on.
:func:`finish` runs such a clean-up to its end even when the task running it
is cancelled again meanwhile (a cycle cancels what is in flight more than
once); each request of it has its own deadline, so it cannot hang.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import httpx

from hangard.registry.paths import location_url

__all__ = ["finish", "opened"]

#: Closes an upload session, given its absolute URL (a best-effort ``DELETE``).
Close = Callable[[str], Awaitable[None]]


async def finish(cleanup: Awaitable[None]) -> None:
    """Await ``cleanup`` to its end; a cancellation meanwhile is raised after it."""
    task = asyncio.ensure_future(cleanup)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    task.result()


async def opened(post: Coroutine[Any, Any, httpx.Response], close: Close) -> httpx.Response:
    """The answer to ``post``. If the caller is cancelled first, the answer
    is still awaited and a session it opened (202) closed; then the
    cancellation propagates."""
    task = asyncio.ensure_future(post)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await finish(_close_when_answered(task, close))
        raise


async def _close_when_answered(task: asyncio.Future[httpx.Response], close: Close) -> None:
    try:
        response = await task
    except Exception:
        return  # no answer, or a refusal: no session was opened
    location = response.headers.get("location")
    if response.status_code == 202 and location:
        await close(location_url(response.request.url, location))
