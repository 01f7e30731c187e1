"""Keep what is good in a bad ``images`` entry, so that the config loader
(:mod:`hangard.config.loader`) can still check its cross-references."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

__all__ = ["salvage_entry"]

#: Fields that decide an entry's outputs: when one is bad, the entry is
#: checked for its targets only.
_OUTPUT_FIELDS = frozenset({"source", "tags", "list", "lines", "destination"})


def salvage_entry(entry: Any, bad_fields: set[Hashable]) -> Any:
    """``entry`` without its bad fields, for checking its references; a
    stand-in without outputs when what it produces is unknown; ``None``
    when not even its targets can be checked."""
    if not isinstance(entry, dict) or None in bad_fields or "targets" in bad_fields:
        return None
    if bad_fields & _OUTPUT_FIELDS:
        stand_in: dict[str, Any] = {"list": "(not checked: the entry is invalid)"}
        if "targets" in entry:
            stand_in["targets"] = entry["targets"]
        return stand_in
    return {k: v for k, v in entry.items() if k not in bad_fields}
