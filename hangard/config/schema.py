"""The desired-state file's JSON Schema, generated from the pydantic models
of :mod:`hangard.core.desired` (``hangard schema``; the copy shipped as
``config/hangard.schema.json``), so that editors complete and check keys.

The schema checks shapes: keys, types, ranges. What needs the whole file or
the disk (target names that exist, readable list files, cron fields, tag
regexes) is left to ``hangard validate``.
"""

from __future__ import annotations

import json
from typing import Any

from hangard.core.desired import DesiredState

__all__ = ["DIALECT", "SCHEMA_TITLE", "desired_state_schema", "schema_text"]

DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_TITLE = "hangard desired state"


def desired_state_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a desired-state file."""
    generated = DesiredState.model_json_schema(mode="validation")
    return {
        "$schema": DIALECT,
        "title": SCHEMA_TITLE,
        "description": "What hangard keeps mirrored, and where: see config/README.md.",
        **{k: v for k, v in generated.items() if k != "title"},
    }


def schema_text() -> str:
    """:func:`desired_state_schema` as the text ``hangard schema`` prints and
    ``config/hangard.schema.json`` holds (ending in a newline)."""
    return json.dumps(desired_state_schema(), indent=2, ensure_ascii=False) + "\n"
