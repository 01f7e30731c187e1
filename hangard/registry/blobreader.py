"""An open blob download, read as it arrives."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx

from hangard.errors import ErrorContext, TransportTimeoutError
from hangard.registry.clock import SYSTEM_CLOCK, Clock
from hangard.registry.errormap import transport_error
from hangard.registry.options import ClientOptions

__all__ = ["BlobReader"]


@dataclass
class BlobReader:
    """An open blob GET. ``size`` is the Content-Length when sent.

    A stream that moves fewer than ``min_rate`` bytes per second over a
    ``window`` of seconds (on ``clock``) is aborted with
    :class:`~hangard.errors.TransportTimeoutError`: a server trickling a
    byte now and then must not hold a copy forever.
    """

    response: httpx.Response
    size: int | None
    registry: str = ""
    image: str | None = None
    clock: Clock = SYSTEM_CLOCK
    min_rate: float = 1024.0
    window: float = 60.0

    @classmethod
    def watched(
        cls,
        response: httpx.Response,
        registry: str,
        image: str,
        clock: Clock,
        options: ClientOptions,
    ) -> BlobReader:
        """A reader of ``response`` watched with ``options``' rate limits."""
        length = response.headers.get("content-length")
        size = int(length) if length else None
        return cls(
            response, size, registry, image, clock, options.blob_min_rate, options.blob_rate_window
        )

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives. A connection lost mid-body raises
        :class:`~hangard.errors.TransportError`, like one lost before the
        answer, so the caller can restart the transfer."""
        started = self.clock.monotonic()
        moved = 0
        try:
            async for chunk in self.response.aiter_raw():
                moved += len(chunk)
                now = self.clock.monotonic()
                if now - started >= self.window:
                    if moved < self.min_rate * (now - started):
                        raise self._stalled(moved, now - started)
                    started, moved = now, 0
                yield chunk
        except httpx.HTTPError as exc:
            url = str(self.response.request.url.copy_with(query=None))
            raise transport_error(
                exc, registry=self.registry, method="GET", url=url, image=self.image
            ) from exc

    def _stalled(self, moved: int, seconds: float) -> TransportTimeoutError:
        url = str(self.response.request.url.copy_with(query=None))
        return TransportTimeoutError(
            f"blob stream too slow: {moved} bytes in {seconds:.0f} s, "
            f"less than {self.min_rate:g} bytes/s",
            ErrorContext(image=self.image, registry=self.registry, method="GET", url=url),
        )
