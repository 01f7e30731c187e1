"""An open blob download, read as it arrives."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx

from hangard.registry.errormap import transport_error

__all__ = ["BlobReader"]


@dataclass
class BlobReader:
    """An open blob GET. ``size`` is the Content-Length when sent."""

    response: httpx.Response
    size: int | None
    registry: str = ""
    image: str | None = None

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives. A connection lost mid-body raises
        :class:`~hangard.errors.TransportError`, like one lost before the
        answer, so the caller can restart the transfer."""
        try:
            async for chunk in self.response.aiter_raw():
                yield chunk
        except httpx.HTTPError as exc:
            url = str(self.response.request.url.copy_with(query=None))
            raise transport_error(
                exc, registry=self.registry, method="GET", url=url, image=self.image
            ) from exc
