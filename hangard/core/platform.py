"""Platforms (``os/arch[/variant]``) and how a requested one matches an entry."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hangard.errors import InputError

__all__ = ["Platform", "parse_platform"]

# Architectures whose variant is implied when absent.
_DEFAULT_VARIANT = {"arm64": "v8"}
_ARCH_ALIASES = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64"}


@dataclass(frozen=True, order=True)
class Platform:
    os: str
    architecture: str
    variant: str | None = None

    def __str__(self) -> str:
        text = f"{self.os}/{self.architecture}"
        return f"{text}/{self.variant}" if self.variant else text

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Platform:
        return cls(
            os=str(doc.get("os", "")),
            architecture=_ARCH_ALIASES.get(
                str(doc.get("architecture", "")), str(doc.get("architecture", ""))
            ),
            variant=str(doc["variant"]) if doc.get("variant") else None,
        )

    @classmethod
    def from_config(cls, raw: bytes) -> Platform | None:
        """The platform an image config blob declares; ``None`` when the
        blob is not a JSON object (a foreign artifact's config)."""
        try:
            doc = json.loads(raw)
        except (ValueError, RecursionError):
            return None
        return cls.from_json(doc) if isinstance(doc, dict) else None

    @property
    def is_unknown(self) -> bool:
        return self.os == "unknown" and self.architecture == "unknown"

    def matches(self, candidate: Platform) -> bool:
        """True when ``candidate`` (from a manifest) satisfies this request.

        A request without a variant accepts any variant; ``arm64`` without a
        variant means ``v8`` on both sides.
        """
        if self.os != candidate.os or self.architecture != candidate.architecture:
            return False
        if self.variant is None:
            return True
        implied = _DEFAULT_VARIANT.get(candidate.architecture)
        return self.variant == (candidate.variant or implied)


def parse_platform(text: str) -> Platform:
    """Parse ``os/arch[/variant]``, e.g. ``linux/arm64/v8``."""
    parts = text.strip().lower().split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise InputError(f"invalid platform {text!r}: expected os/arch[/variant], e.g. linux/amd64")
    arch = _ARCH_ALIASES.get(parts[1], parts[1])
    return Platform(parts[0], arch, parts[2] if len(parts) == 3 else None)
