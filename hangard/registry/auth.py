"""Registry authentication: Basic, and the Docker/OCI bearer-token flow.

The :class:`Authenticator` remembers each registry's challenge (some
registries send a bare 401 later), fetches tokens for a set of scopes, and
caches them per (registry, service, scopes) until shortly before expiry.
Only one fetch per key runs at a time.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import httpx

from hangard.errors import AuthError, ErrorContext
from hangard.registry.challenge import Challenge
from hangard.registry.credentials import Credentials, CredentialStore

__all__ = ["Authenticator", "merge_scopes", "pull_scope", "push_scope"]

MIN_TOKEN_LIFETIME = 60.0
REFRESH_MARGIN = 10.0

Send = Callable[[httpx.Request], Awaitable[httpx.Response]]


def pull_scope(path: str) -> str:
    return f"repository:{path}:pull"


def push_scope(path: str) -> str:
    # push first: some token servers only grant what the first action allows
    return f"repository:{path}:push,pull"


def merge_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """Merge ``type:name:actions`` scopes, uniting actions per resource."""
    actions: dict[tuple[str, str], list[str]] = {}
    for scope in scopes:
        kind, _, rest = scope.partition(":")
        name, _, acts = rest.rpartition(":")
        if not name:
            name, acts = rest, ""
        bucket = actions.setdefault((kind, name), [])
        for act in acts.split(","):
            if act and act not in bucket:
                bucket.append(act)
    merged = []
    for (kind, name), granted in actions.items():
        ordered = sorted(granted, key=lambda a: (a != "push", a))
        merged.append(f"{kind}:{name}:{','.join(ordered)}")
    return tuple(sorted(merged))


@dataclass
class _Token:
    value: str
    expires_at: float

    @property
    def fresh(self) -> bool:
        return time.monotonic() < self.expires_at - REFRESH_MARGIN


def basic_header(creds: Credentials) -> str:
    raw = f"{creds.username or ''}:{creds.password or ''}".encode()
    return "Basic " + base64.b64encode(raw).decode()


class Authenticator:
    def __init__(self, credentials: CredentialStore, send: Send) -> None:
        self._credentials = credentials
        self._send = send
        self._challenges: dict[str, Challenge | None] = {}
        self._tokens: dict[tuple[str, str, tuple[str, ...]], _Token] = {}
        self._locks: dict[tuple[str, str, tuple[str, ...]], asyncio.Lock] = {}
        self.token_requests = 0

    def knows(self, registry: str) -> bool:
        return registry in self._challenges

    def set_challenges(self, registry: str, challenges: list[Challenge], url: str) -> None:
        """Remember how a registry wants to be authenticated (bearer preferred)."""
        chosen: Challenge | None = None
        for ch in challenges:
            if ch.scheme == "bearer" and ch.realm:
                chosen = Challenge("bearer", {**ch.params, "realm": ch.resolve_realm(url) or ""})
                break
            if ch.scheme == "basic" and chosen is None:
                chosen = ch
        self._challenges[registry] = chosen

    def challenge(self, registry: str) -> Challenge | None:
        return self._challenges.get(registry)

    def credentials(self, registry: str) -> Credentials | None:
        return self._credentials.lookup(registry)

    def invalidate(self, registry: str, scopes: tuple[str, ...]) -> None:
        ch = self._challenges.get(registry)
        service = (ch.service or "") if ch else ""
        self._tokens.pop((registry, service, merge_scopes(scopes)), None)

    async def header(self, registry: str, scopes: Iterable[str]) -> str | None:
        """The ``Authorization`` value for a request needing ``scopes``."""
        ch = self._challenges.get(registry)
        if ch is None:
            return None
        creds = self._credentials.lookup(registry)
        if ch.scheme == "basic":
            return basic_header(creds) if creds and creds.username else None
        if ch.scheme != "bearer":
            return None
        key = (registry, ch.service or "", merge_scopes(scopes))
        token = self._tokens.get(key)
        if token and token.fresh:
            return f"Bearer {token.value}"
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            token = self._tokens.get(key)
            if not (token and token.fresh):
                token = await self._fetch(registry, ch, key[2], creds)
                self._tokens[key] = token
        return f"Bearer {token.value}"

    async def _fetch(
        self, registry: str, ch: Challenge, scopes: tuple[str, ...], creds: Credentials | None
    ) -> _Token:
        realm = ch.realm or ""
        params: list[tuple[str, str | int | float | bool | None]] = []
        if ch.service:
            params.append(("service", ch.service))
        params.extend(("scope", s) for s in scopes)
        headers = {}
        if creds and creds.identity_token:
            form: dict[str, str] = {k: str(v) for k, v in params}
            form.update(
                grant_type="refresh_token",
                refresh_token=creds.identity_token,
                client_id="hangard",
                scope=" ".join(scopes),
            )
            request = httpx.Request("POST", realm, data=form)
        else:
            if creds and creds.username:
                headers["Authorization"] = basic_header(creds)
            request = httpx.Request("GET", realm, params=params, headers=headers)
        self.token_requests += 1
        response = await self._send(request)
        ctx = ErrorContext(
            registry=registry, method=request.method, url=realm, status=response.status_code
        )
        if response.status_code in (401, 403):
            raise AuthError(
                "token server refused the credentials"
                if creds
                else "token server refused anonymous access",
                ctx,
                remedy="check the credentials for this registry (docker login, --creds or the "
                "registry's credentials in the config)",
            )
        if response.status_code != 200:
            raise AuthError(f"token request failed with HTTP {response.status_code}", ctx)
        try:
            body = response.json()
            value = body.get("token") or body.get("access_token")
        except ValueError:
            value = None
            body = {}
        if not value:
            raise AuthError("token server reply holds no token", ctx)
        lifetime = max(float(body.get("expires_in") or MIN_TOKEN_LIFETIME), MIN_TOKEN_LIFETIME)
        return _Token(str(value), time.monotonic() + lifetime)
