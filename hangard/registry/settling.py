"""Manifest pushes that a registry refuses before it has settled the writes
they depend on.

hangard pushes a manifest only after every blob and child manifest it names
is at the target, so a refusal naming one of them (``MANIFEST_BLOB_UNKNOWN``,
``BLOB_UNKNOWN``), or a ``DIGEST_INVALID`` for bytes whose digest hangard
computed itself, means the registry has not yet seen its own writes: an
eventually consistent storage backend (S3 read-after-write), or another
writer storing the same content at the same moment (distribution's
filesystem driver then reads a link file half written, e.g. two hangard
instances on one shard). The push is retried a few times, briefly; a
refusal that persists is reported as it came.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog

from hangard.errors import ResponseError
from hangard.registry.clock import Clock

__all__ = ["UNSETTLED", "until_settled"]

log = structlog.get_logger("hangard.registry")

T = TypeVar("T")

#: Error codes of a manifest push that name what was written just before it.
UNSETTLED = frozenset({"MANIFEST_BLOB_UNKNOWN", "BLOB_UNKNOWN", "DIGEST_INVALID"})

#: Pauses before each retry: about 1.5 s in all before the refusal stands.
DELAYS = (0.1, 0.4, 1.0)


async def until_settled(push: Callable[[], Awaitable[T]], clock: Clock, image: str) -> T:
    """``push()``, again after each of :data:`DELAYS` while the registry
    answers with an :data:`UNSETTLED` code."""
    for delay in DELAYS:
        try:
            return await push()
        except ResponseError as exc:
            if exc.code not in UNSETTLED:
                raise
            log.info(
                "manifest push refused before the registry settled; retrying",
                image=image,
                code=exc.code,
                delay=delay,
            )
            await clock.sleep(delay)
    return await push()
