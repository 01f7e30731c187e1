"""Pydantic validation errors, said the way an operator reads them: which
key is unknown (and what was probably meant), what YAML turned a value into,
and which node of the file an error belongs to."""

from __future__ import annotations

import difflib
from collections.abc import Hashable
from typing import Any

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from hangard.config.positions import NodeInfo
from hangard.core.desired import (
    Credentials,
    Defaults,
    DesiredState,
    HarborSettings,
    ImageEntry,
    ListEntry,
    RegistrySettings,
    TagRules,
    Target,
)

__all__ = ["error_message", "first_column", "strip_union_tags", "unknown_key"]

# Union tags pydantic puts into error locations (see hangard.core.desired):
# the kind of an ``images`` item after its index, the kind of ``tags`` after it.
_ENTRY_TAGS = frozenset({"image", "list"})
_TAGS_TAGS = frozenset({"explicit", "rules"})


def strip_union_tags(loc: tuple[Hashable, ...]) -> tuple[Hashable, ...]:
    parts = list(loc)
    if len(parts) > 2 and parts[0] == "images" and isinstance(parts[1], int):
        if parts[2] in _ENTRY_TAGS:
            del parts[2]
        if len(parts) > 3 and parts[2] == "tags" and parts[3] in _TAGS_TAGS:
            del parts[3]
    return tuple(parts)


def _model_at(raw: tuple[Hashable, ...]) -> type[BaseModel] | None:
    """The model whose keys are valid at a raw pydantic location."""
    match raw:
        case ():
            return DesiredState
        case ("defaults",):
            return Defaults
        case ("registries", _):
            return RegistrySettings
        case ("registries", _, "credentials"):
            return Credentials
        case ("registries", _, "harbor"):
            return HarborSettings
        case ("targets", _):
            return Target
        case ("images", int(), "image"):
            return ImageEntry
        case ("images", int(), "list"):
            return ListEntry
        case ("images", int(), "image", "tags", "rules"):
            return TagRules
    return None


def _keys_of(model: type[BaseModel]) -> list[str]:
    fields = model.model_fields.items()  # an ``exclude``d field is the loader's to fill
    keys = [info.alias or name for name, info in fields if not info.exclude]
    return [k for k in keys if not (model is ListEntry and k == "lines")]


def unknown_key(key: Hashable, raw_parent: tuple[Hashable, ...]) -> str:
    model = _model_at(raw_parent)
    if model is ListEntry and key in ImageEntry.model_fields:
        return f"unknown key {key!r}: an images entry has either 'source' and 'tags', or 'list'"
    message = f"unknown key {key!r}"
    if model is None:
        return message
    keys = _keys_of(model)
    hint = difflib.get_close_matches(str(key).lower(), keys, n=1)
    if hint:
        return f"{message}; did you mean {hint[0]!r}?"
    return f"{message} (expected one of: {', '.join(keys)})"


def _lower(text: str) -> str:
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if value is None:
        return "nothing (null)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return repr(value) if len(value) <= 60 else "a long string"
    return type(value).__name__


_EXPECTED = {
    "model_type": "a mapping",
    "dict_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
}


def error_message(error: ErrorDetails, info: NodeInfo | None) -> str:
    kind = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return str(ctx["error"])
    if kind == "string_type":
        if info is not None and info.plain and info.text and value is not None:
            return (
                f"expected a string, but YAML reads {info.text} as {_describe(value)}; "
                f'quote it: "{info.text}"'
            )
        return f"expected a string, got {_describe(value)}"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {_describe(value)}"
    if kind == "literal_error" and "expected" in ctx:
        return f"expected {ctx['expected']}, got {_describe(value)}"
    message = _lower(error["msg"])
    if not isinstance(value, dict | list):
        message += f" (got {_describe(value)})"
    return message


def first_column(text: str, line: int) -> int:
    lines = text.split("\n")
    if not 1 <= line <= len(lines):
        return 1
    body = lines[line - 1].removeprefix("\ufeff") if line == 1 else lines[line - 1]
    stripped = body.lstrip()
    return len(body) - len(stripped) + 1
