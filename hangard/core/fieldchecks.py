"""The core's parsers as checks of the desired-state schema's fields
(:mod:`hangard.core.desired`): each raises the ``ValueError`` pydantic
reports at the field's location, with the parser's message, and the
annotated string types the schema's lists use, so that each item is checked
on its own (an error's location ends in its index, and every bad item is
reported). Pure.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, TypeVar

from pydantic import AfterValidator, Field

from hangard.core.platform import Platform
from hangard.core.platform import parse_platform as _parse_platform
from hangard.core.reference import ImageReference, canonical_host, parse_digest, parse_tag
from hangard.core.reference import parse_reference as _parse_reference
from hangard.errors import InputError

__all__ = [
    "PlatformText",
    "RegexText",
    "ScheduleText",
    "TagSpecText",
    "check",
    "check_host_key",
    "parse_platform",
    "parse_reference",
    "parse_tag_spec",
    "registry_host",
]

T = TypeVar("T")


def check(parse: Callable[[str], T], value: str) -> T:
    """``parse(value)``, its error as the ``ValueError`` pydantic reports at
    the field's location."""
    try:
        return parse(value)
    except InputError as exc:
        raise ValueError(exc.message) from None


def parse_reference(text: str) -> ImageReference:
    """:func:`hangard.core.reference.parse_reference`, raising ``ValueError``."""
    return check(_parse_reference, text)


def parse_platform(text: str) -> Platform:
    """:func:`hangard.core.platform.parse_platform`, raising ``ValueError``."""
    return check(_parse_platform, text)


def parse_tag_spec(text: str) -> tuple[str, str | None]:
    """``1.27`` → (``1.27``, None); ``1.27@sha256:…`` → (``1.27``, digest)."""
    tag, _, digest = text.partition("@")
    return check(parse_tag, tag), check(parse_digest, digest) if digest else None


def registry_host(value: str) -> str:
    """``value`` as a registry host, in canonical spelling (``index.docker.io``
    → ``docker.io``); ``ValueError`` if it is not one. A bare name such as
    ``myhost`` is not: in a reference it would be a Docker Hub namespace."""
    host = check(canonical_host, value)
    if not ("." in host or ":" in host or host == "localhost"):
        raise ValueError(f"{value!r} is not a registry host (like quay.io or host:5000)")
    return host


def check_host_key(value: str) -> str:
    """A ``registries:`` key: a registry host, kept as written (the loader
    finds the key by it)."""
    registry_host(value)
    return value


def _check_regex(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"bad regex {pattern!r}: {exc}") from None
    return pattern


def _check_platform(value: str) -> str:
    parse_platform(value)
    return value


def _check_tag_spec(value: str) -> str:
    parse_tag_spec(value)
    return value


RegexText = Annotated[str, AfterValidator(_check_regex)]
PlatformText = Annotated[str, AfterValidator(_check_platform)]
TagSpecText = Annotated[str, AfterValidator(_check_tag_spec)]
ScheduleText = Annotated[str, Field(min_length=1)]
