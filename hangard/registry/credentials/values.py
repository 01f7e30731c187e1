"""What a registry is authenticated with, and how registry names are
matched against auth-file keys."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hangard.core.reference import DEFAULT_REGISTRY, DOCKER_HUB_ALIASES, canonical_host
from hangard.errors import InputError, InvalidReferenceError

__all__ = ["DOCKER_HUB_AUTH_KEY", "Credentials", "canonical_key", "find_key", "parse_user_pass"]

#: The key Docker writes for Docker Hub in ``auths`` and sends to helpers.
DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/"


@dataclass(frozen=True, repr=False)
class Credentials:
    """What to authenticate with. ``repr`` masks the secrets."""

    username: str | None = None
    password: str | None = None
    identity_token: str | None = None
    """An OAuth2 refresh token (Docker's ``identitytoken``)."""

    def __repr__(self) -> str:
        def mask(value: str | None) -> str:
            return "None" if value is None else "'***'"

        return (
            f"Credentials(username={self.username!r}, password={mask(self.password)}, "
            f"identity_token={mask(self.identity_token)})"
        )

    @property
    def is_empty(self) -> bool:
        return not (self.username or self.password or self.identity_token)


def parse_user_pass(text: str) -> Credentials:
    """Parse ``USER:PASS`` as given to ``--src-creds``; the password may hold colons."""
    username, sep, password = text.partition(":")
    if not sep:
        raise InputError(
            "invalid credentials: expected USER:PASS", remedy="separate user and password with ':'"
        )
    if not username:
        raise InputError("invalid credentials: the user name before ':' is empty")
    if not password:
        raise InputError(f"invalid credentials for user {username!r}: the password is empty")
    return Credentials(username=username, password=password)


def canonical_key(host: str) -> str:
    """``host`` as the store keys it: :func:`~hangard.core.reference.canonical_host`
    for a valid host; anything else (an odd auth-file key) just lowercased."""
    try:
        return canonical_host(host)
    except InvalidReferenceError:
        return host.strip().lower()


def _normalise_key(key: str) -> str:
    """``https://Host:5000/v2/`` → ``host:5000``; Hub aliases → ``docker.io``."""
    text = key.strip().lower()
    for prefix in ("https://", "http://"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    text = text.rstrip("/")
    for suffix in ("/v1", "/v2"):
        if text.endswith(suffix):
            text = text[: -len(suffix)]
            break
    return canonical_key(text)


def find_key(table: Mapping[str, Any], registry: str) -> str | None:
    """The key of ``table`` that names ``registry``, exact spellings first."""
    exact = [registry]
    if registry == DEFAULT_REGISTRY:
        exact = [DOCKER_HUB_AUTH_KEY, *sorted(DOCKER_HUB_ALIASES)]
    for key in exact:
        if key in table:
            return key
    for key in table:
        if _normalise_key(key) == registry:
            return key
    return None
