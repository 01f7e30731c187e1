"""Where an error happened: the context each layer adds as an error travels
outward (:meth:`hangard.errors.HangardError.with_context`). Re-exported by
:mod:`hangard.errors`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

__all__ = ["ErrorContext"]


@dataclass(frozen=True)
class ErrorContext:
    """Where an error happened, filled in by each layer it passes through."""

    item: str | None = None
    """The desired-state item: ``IMAGE:TAG -> TARGET``."""
    image: str | None = None
    registry: str | None = None
    method: str | None = None
    url: str | None = None
    status: int | None = None
    code: str | None = None
    detail: str | None = None

    def merged(self, **fields: Any) -> ErrorContext:
        """This context with the blanks among ``fields`` filled in.

        Fields already set win: the layer closest to the failure knew best.
        """
        blanks = {k: v for k, v in fields.items() if getattr(self, k) is None}
        return dataclasses.replace(self, **blanks)

    def describe(self) -> str:
        parts = []
        if self.item:
            parts.append(f"item {self.item}")
        if self.image:
            parts.append(f"image {self.image}")
        if self.registry:
            parts.append(f"registry {self.registry}")
        if self.method and self.url:
            parts.append(f"{self.method} {self.url}")
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.code:
            parts.append(f"code {self.code}")
        return ", ".join(parts)
