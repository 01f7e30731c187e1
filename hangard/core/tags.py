"""Tag selection: which of a repository's tags an entry wants. Pure.

Rules (all optional, all must hold):

* ``include``: anchored regexes; a tag must fully match at least one;
* ``exclude``: anchored regexes; a tag fully matching any is dropped;
* ``semver``: an npm-style range (``>=1.24 <2``, ``^3.18``, ``~1.2``,
  ``1.x``); tags are read leniently (``v1.2``, ``1.25`` → 1.25.0) and tags
  that are not versions never match;
* ``latest: N``: keep the N highest versions (semver order; non-version tags
  are dropped when ``latest`` is used).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import cache
from typing import TYPE_CHECKING, Protocol

from hangard.errors import InputError

if TYPE_CHECKING:
    import semantic_version

__all__ = ["Rules", "parse_semver_range", "parse_version", "select_tags", "selected_tags"]


class Rules(Protocol):
    """What selects tags (:class:`hangard.core.desired.TagRules` is one)."""

    @property
    def include(self) -> Sequence[str]: ...
    @property
    def exclude(self) -> Sequence[str]: ...
    @property
    def semver(self) -> str | None: ...
    @property
    def latest(self) -> int | None: ...


_VERSION = re.compile(
    r"v?(?P<major>0|[1-9]\d*)(?:\.(?P<minor>0|[1-9]\d*))?(?:\.(?P<patch>0|[1-9]\d*))?"
    r"(?:-(?P<pre>[0-9A-Za-z.-]+))?(?:\+(?P<build>[0-9A-Za-z.-]+))?"
)


@cache
def parse_version(tag: str) -> semantic_version.Version | None:
    """A semantic version for ``tag``, leniently, or ``None``."""
    m = _VERSION.fullmatch(tag)
    if not m:
        return None
    text = f"{m['major']}.{m['minor'] or 0}.{m['patch'] or 0}"
    if m["pre"]:
        text += f"-{m['pre']}"
    if m["build"]:
        text += f"+{m['build']}"
    import semantic_version  # only configs with semver rules pay for it

    try:
        return semantic_version.Version(text)
    except ValueError:
        return None


@cache
def parse_semver_range(text: str) -> semantic_version.NpmSpec:
    import semantic_version

    try:
        return semantic_version.NpmSpec(text.strip())
    except ValueError as exc:
        raise InputError(f"bad semver range {text!r}: {exc}") from None


@cache
def _anchored(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _matches_any(tag: str, patterns: Sequence[str]) -> bool:
    return any(_anchored(p).fullmatch(tag) for p in patterns)


def select_tags(tags: Iterable[str], rules: Rules) -> list[str]:
    """The tags ``rules`` select, sorted (by version when ``latest`` or
    ``semver`` is used, highest first; else by name)."""
    chosen = []
    spec = parse_semver_range(rules.semver) if rules.semver else None
    for tag in dict.fromkeys(tags):
        if rules.include and not _matches_any(tag, rules.include):
            continue
        if rules.exclude and _matches_any(tag, rules.exclude):
            continue
        if spec is not None or rules.latest:
            version = parse_version(tag)
            if version is None or (spec is not None and not spec.match(version)):
                continue
        chosen.append(tag)
    if spec is None and not rules.latest:
        return sorted(chosen)
    ordered = sorted(chosen, key=lambda t: (parse_version(t), t), reverse=True)
    return ordered[: rules.latest] if rules.latest else ordered


def selected_tags(tags: Iterable[str], rules: Rules | None) -> list[str]:
    """:func:`select_tags`, or every tag sorted by name when there is no rule."""
    return sorted(dict.fromkeys(tags)) if rules is None else select_tags(tags, rules)
