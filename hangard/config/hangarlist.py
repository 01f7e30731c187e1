"""Hangar image list files, parsed from text (the loader reads the file).

One image per line, in either of two styles:

* a reference: ``nginx:1.27``, ``docker.io/library/nginx:1.27``,
  ``quay.io/org/app@sha256:…``; a name without tag or digest means ``latest``;
* the mirror style ``SOURCE DEST TAG``: three whitespace-separated fields.
  ``SOURCE`` is a repository without tag; ``DEST`` is a repository *path*
  (no registry host: the entry's targets choose the registries) that replaces
  the targets' mapping for this line; ``TAG`` is a tag, optionally pinned as
  ``TAG@sha256:…``.

A digest-only reference (``repo@sha256:<hex>``) is pushed under the tag
``sha256-<hex>``: every output needs a tag, and this one names the content.

Blank lines and lines starting with ``#`` or ``//`` are skipped, as is
anything after whitespace followed by ``#`` or ``//``. Every bad line is
reported (not just the first) as a :class:`~hangard.config.positions.Problem`
with the line and the column of the offending field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from hangard.config.positions import Problem
from hangard.core.desired import ListLine
from hangard.core.reference import DEFAULT_TAG, parse_digest, parse_path, parse_reference, parse_tag
from hangard.errors import InvalidReferenceError

__all__ = ["COMMENT_PREFIXES", "ParsedList", "digest_tag", "parse_hangar_list"]

COMMENT_PREFIXES = ("#", "//")

_FIELD = re.compile(r"\S+")
_TRAILING_COMMENT = re.compile(r"\s(?:#|//)")
# Validates a repository path or a tag by building a reference around it.


class ParsedList(NamedTuple):
    lines: list[ListLine]
    problems: list[Problem]


@dataclass(frozen=True)
class _Field:
    column: int
    text: str


class _LineError(Exception):
    def __init__(self, column: int, message: str) -> None:
        super().__init__(message)
        self.column = column
        self.message = message


def digest_tag(digest: str) -> str:
    """The tag a digest-only line is pushed under: ``sha256:ab…`` → ``sha256-ab…``."""
    return digest.replace(":", "-", 1)


def parse_hangar_list(text: str, name: str) -> ParsedList:
    """Parse a list file's ``text``; problems name the file as ``name``."""
    lines: list[ListLine] = []
    problems: list[Problem] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        raw = raw.rstrip("\r")
        if number == 1:
            raw = raw.removeprefix("\ufeff")
        fields = [_Field(m.start() + 1, m.group()) for m in _FIELD.finditer(_strip_comment(raw))]
        if not fields:
            continue
        try:
            if len(fields) == 1:
                lines.append(_reference_line(number, fields[0]))
            elif len(fields) == 3:
                lines.append(_mirror_line(number, *fields))
            else:
                raise _LineError(
                    fields[0].column,
                    f"expected an image reference or 'SOURCE DEST TAG', got {len(fields)} fields",
                )
        except _LineError as exc:
            problems.append(Problem(name, number, exc.column, exc.message))
    return ParsedList(lines, problems)


def _strip_comment(line: str) -> str:
    if line.lstrip().startswith(COMMENT_PREFIXES):
        return ""
    m = _TRAILING_COMMENT.search(line)
    return line[: m.start()] if m else line


def _reference_line(number: int, image: _Field) -> ListLine:
    try:
        ref = parse_reference(image.text)
    except InvalidReferenceError as exc:
        raise _LineError(image.column, exc.message) from None
    if ref.tag:
        tag = ref.tag
    elif ref.digest:
        tag = digest_tag(ref.digest)
    else:
        tag = DEFAULT_TAG
    return ListLine(line=number, source=str(ref.repository), tag=tag, digest=ref.digest)


def _mirror_line(number: int, source: _Field, dest: _Field, tag: _Field) -> ListLine:
    try:
        ref = parse_reference(source.text)
    except InvalidReferenceError as exc:
        raise _LineError(source.column, exc.message) from None
    if ref.tag or ref.digest:
        raise _LineError(
            source.column,
            f"SOURCE {source.text!r} must be a repository without tag or digest; "
            "the tag is the third field",
        )
    destination = _destination(dest)
    tag_name, digest = _tag(tag)
    return ListLine(
        line=number,
        source=str(ref.repository),
        tag=tag_name,
        digest=digest,
        destination=destination,
    )


def _destination(dest: _Field) -> str:
    first, sep, _ = dest.text.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        raise _LineError(
            dest.column,
            f"DEST {dest.text!r} names a registry host ({first}); DEST is a repository path "
            "placed on each target registry, and the targets choose the registries",
        )
    if ":" in dest.text or "@" in dest.text:
        raise _LineError(
            dest.column, f"DEST {dest.text!r} must be a repository path without tag or digest"
        )
    path = dest.text.strip("/")
    try:
        return parse_path(path, what="destination")
    except InvalidReferenceError as exc:
        raise _LineError(dest.column, exc.message) from None


def _tag(tag: _Field) -> tuple[str, str | None]:
    name, _, digest = tag.text.partition("@")

    def fail(_quoted: str, why: str) -> Exception:
        return _LineError(tag.column, f"invalid tag {tag.text!r}: {why}")

    try:
        parse_tag(name)
    except InvalidReferenceError as exc:
        raise _LineError(tag.column, exc.message) from None
    return name, parse_digest(digest, fail=fail) if digest else None
