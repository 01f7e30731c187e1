"""``WWW-Authenticate`` challenge parsing (RFC 7235), tolerant of real registries.

Pure: a header string in, a list of :class:`Challenge` out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urljoin

__all__ = ["Challenge", "parse_challenges"]

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_PARAM = re.compile(
    rf"\s*(?P<key>{_TOKEN})\s*=\s*(?:\"(?P<quoted>(?:[^\"\\]|\\.)*)\"|(?P<bare>[^,\s]*))\s*(?:,|$)"
)
_SCHEME = re.compile(rf"\s*(?P<scheme>{_TOKEN})(?:\s+|$)")


@dataclass(frozen=True)
class Challenge:
    scheme: str  # lower-case: "bearer", "basic", ...
    params: dict[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")

    @property
    def service(self) -> str | None:
        return self.params.get("service")

    @property
    def scopes(self) -> list[str]:
        scope = self.params.get("scope")
        return scope.split(" ") if scope else []

    @property
    def error(self) -> str | None:
        return self.params.get("error")

    def resolve_realm(self, request_url: str) -> str | None:
        """The realm as an absolute URL (a relative realm is resolved)."""
        return urljoin(request_url, self.realm) if self.realm else None


def parse_challenges(header: str) -> list[Challenge]:
    """Parse one ``WWW-Authenticate`` value that may hold several challenges.

    Scheme names are case-insensitive; quoted values may contain commas and
    escaped quotes.
    """
    out: list[Challenge] = []
    pos = 0
    text = header or ""
    while pos < len(text):
        m = _SCHEME.match(text, pos)
        if not m:
            break
        scheme = m.group("scheme").lower()
        pos = m.end()
        params: dict[str, str] = {}
        while pos < len(text):
            p = _PARAM.match(text, pos)
            if not p:
                break
            value = p.group("quoted")
            if value is None:
                value = p.group("bare") or ""
            else:
                value = re.sub(r"\\(.)", r"\1", value)
            params[p.group("key").lower()] = value
            pos = p.end()
        out.append(Challenge(scheme, params))
        # skip a stray comma between challenges
        while pos < len(text) and text[pos] in ", ":
            pos += 1
    return out
