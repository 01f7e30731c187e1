"""The desired-state file's JSON Schema, generated from the pydantic models
of :mod:`hangard.core.desired` (``hangard schema``; the copy shipped as
``config/hangard.schema.json``), so that editors complete and check keys.

The schema checks shapes: keys, types, ranges. What needs the whole file or
the disk (target names that exist, readable list files, cron fields, tag
regexes) is left to ``hangard validate``.

A field's description is the docstring under it in the model's source
(``name: T = ...`` then a string), read here rather than by pydantic at
import (:class:`~hangard.core.registry_settings.StrictModel`).
"""

from __future__ import annotations

import ast
import inspect
import json
import textwrap
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from hangard.core.desired import DesiredState

__all__ = ["DIALECT", "SCHEMA_TITLE", "desired_state_schema", "schema_text"]

DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_TITLE = "hangard desired state"


def desired_state_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a desired-state file."""
    generated = DesiredState.model_json_schema(
        mode="validation", schema_generator=_WithFieldDocstrings
    )
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


class _WithFieldDocstrings(GenerateJsonSchema):
    """pydantic's schema, each model field described by its docstring
    unless the field gives a description of its own."""

    def model_schema(self, schema: core_schema.ModelSchema) -> JsonSchemaValue:
        json_schema = super().model_schema(schema)
        model: type[BaseModel] = schema["cls"]
        properties = json_schema.get("properties", {})
        for name, field in model.model_fields.items():
            key = field.validation_alias if isinstance(field.validation_alias, str) else None
            key = key or field.alias or name
            doc = _docstring_of(model, name)
            if field.description is None and doc is not None and key in properties:
                properties[key]["description"] = doc
        return json_schema


def _docstring_of(model: type[BaseModel], name: str) -> str | None:
    """The docstring under field ``name`` in the class that declares it."""
    for cls in model.__mro__:
        if name in inspect.get_annotations(cls):
            return _attribute_docstrings(cls).get(name)
    return None


@cache
def _attribute_docstrings(cls: type) -> dict[str, str]:
    """``name: T = ...`` followed by a string, in ``cls``'s own body."""
    node = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0]
    assert isinstance(node, ast.ClassDef)
    docs: dict[str, str] = {}
    for previous, stmt in zip(node.body, node.body[1:], strict=False):
        if (
            isinstance(previous, ast.AnnAssign)
            and isinstance(previous.target, ast.Name)
            and isinstance(stmt, ast.Expr)
            and isinstance(stmt.value, ast.Constant)
            and isinstance(stmt.value.value, str)
        ):
            docs[previous.target.id] = inspect.cleandoc(stmt.value.value)
    return docs
