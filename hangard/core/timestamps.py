"""Times as people and tools read them: RFC 3339 in UTC, beside the epoch
seconds that ``/status`` and the state file keep."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

__all__ = ["rfc3339", "with_rfc3339"]


def rfc3339(epoch: float | None) -> str | None:
    """``1764599079.5`` → ``"2025-12-01T14:24:39.500Z"`` (milliseconds, UTC);
    ``None`` stays ``None``."""
    if epoch is None:
        return None
    when = datetime.fromtimestamp(epoch, UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def with_rfc3339(doc: dict[str, Any], *names: str) -> dict[str, Any]:
    """``doc`` with ``NAME_rfc3339`` after each epoch field ``NAME``."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        out[key] = value
        if key in names:
            out[f"{key}_rfc3339"] = rfc3339(value)
    return out
