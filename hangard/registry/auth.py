"""Registry authentication: Basic, and the Docker/OCI bearer-token flow.

The :class:`Authenticator` remembers each registry's challenge (some
registries send a bare 401 later), fetches tokens for a set of scopes, and
caches them per (registry, service, scopes) until shortly before expiry.
Only one fetch per key runs at a time.

Token requests go through the same transport as registry calls (retries,
error mapping): a token server's 5xx is a :class:`~hangard.errors.ServerError`,
its 429 a :class:`~hangard.errors.RateLimitedError`; only its 401/403 are
:class:`~hangard.errors.AuthError`.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import httpx

from hangard.errors import AuthError, ErrorContext
from hangard.hints import Hint
from hangard.registry.challenge import Challenge
from hangard.registry.clock import SYSTEM_CLOCK, Clock
from hangard.registry.credentials import Credentials, CredentialStore
from hangard.registry.transport import Call

__all__ = ["Authenticator", "basic_header", "merge_scopes", "pull_scope", "push_scope"]

MIN_TOKEN_LIFETIME = 60.0
REFRESH_MARGIN = 10.0
#: Token-server answers handled here; any other is mapped by the transport
#: (5xx: ServerError, 429: RateLimitedError). Token calls take no request
#: slot: those are the registry's, and the token server is another host.
_TOKEN_OK = (200, 401, 403)
_WHAT = "token server reply"

Send = Callable[[Call], Awaitable[httpx.Response]]


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
    """On the authenticator's clock (monotonic)."""

    def fresh(self, now: float) -> bool:
        return now < self.expires_at - REFRESH_MARGIN


def basic_header(creds: Credentials) -> str:
    raw = f"{creds.username or ''}:{creds.password or ''}".encode()
    return "Basic " + base64.b64encode(raw).decode()


class Authenticator:
    """Authorization headers per registry; ``send`` carries token requests
    (the transport's :meth:`~hangard.registry.transport.Transport.send`)."""

    def __init__(
        self, credentials: CredentialStore, send: Send, *, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self._credentials = credentials
        self._send = send
        self._clock = clock
        self._challenges: dict[str, Challenge | None] = {}
        self._tokens: dict[tuple[str, str, tuple[str, ...]], _Token] = {}
        self._locks: dict[tuple[str, str, tuple[str, ...]], asyncio.Lock] = {}
        self._anonymous: set[str] = set()
        """Registries the last lookup found no credentials for."""
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

    def invalidate(self, registry: str, scopes: tuple[str, ...]) -> None:
        ch = self._challenges.get(registry)
        service = (ch.service or "") if ch else ""
        self._tokens.pop((registry, service, merge_scopes(scopes)), None)

    async def header(self, registry: str, scopes: Iterable[str]) -> str | None:
        """The ``Authorization`` value for a request needing ``scopes``."""
        ch = self._challenges.get(registry)
        if ch is None:
            return None
        # off the event loop: a credential helper is a subprocess
        creds = await self._credentials.alookup(registry)
        if creds is None:
            self._anonymous.add(registry)
        else:
            self._anonymous.discard(registry)
        if ch.scheme == "basic":
            return basic_header(creds) if creds and creds.username else None
        if ch.scheme != "bearer":
            return None
        key = (registry, ch.service or "", merge_scopes(scopes))
        token = self._tokens.get(key)
        if token and token.fresh(self._clock.monotonic()):
            return f"Bearer {token.value}"
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            token = self._tokens.get(key)
            if not (token and token.fresh(self._clock.monotonic())):
                token = await self._fetch(registry, ch, key[2], creds)
                self._tokens[key] = token
        return f"Bearer {token.value}"

    def explain(self, error: AuthError) -> AuthError:
        """``error`` (a refusal from ``error.context.registry``), saying
        "no credentials for REGISTRY; searched: …" when none were found:
        a refusal of anonymous access is not a refusal of credentials."""
        registry = error.context.registry
        if registry is None or registry not in self._anonymous:
            return error
        explained = AuthError(
            self._none_found(registry),
            error.context.merged(detail=error.message),
            hint=error.hint or Hint.CREDENTIALS,
        )
        explained.__cause__ = error.__cause__
        return explained

    def _none_found(self, registry: str) -> str:
        return f"no credentials for {registry}; searched: {self._credentials.searched(registry)}"

    async def _fetch(
        self, registry: str, ch: Challenge, scopes: tuple[str, ...], creds: Credentials | None
    ) -> _Token:
        realm = ch.realm or ""
        params: list[tuple[str, str]] = []
        if ch.service:
            params.append(("service", ch.service))
        params.extend(("scope", s) for s in scopes)
        headers: dict[str, str] = {}
        if creds and creds.identity_token:
            form = dict(params)
            form.update(
                grant_type="refresh_token",
                refresh_token=creds.identity_token,
                client_id="hangard",
                scope=" ".join(scopes),
            )
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            content = str(httpx.QueryParams(form)).encode()
            call = Call(
                registry, "POST", realm, headers, content, ok=_TOKEN_OK, limited=False, what=_WHAT
            )
        else:
            if creds and creds.username:
                headers["Authorization"] = basic_header(creds)
            url = str(httpx.URL(realm).copy_merge_params(tuple(params)))
            call = Call(registry, "GET", url, headers, ok=_TOKEN_OK, limited=False, what=_WHAT)
        self.token_requests += 1
        response = await self._send(call)
        ctx = ErrorContext(
            registry=registry, method=call.method, url=realm, status=response.status_code
        )
        if response.status_code in (401, 403):
            if creds is None:
                raise AuthError(
                    f"{self._none_found(registry)} (the token server refused anonymous access)",
                    ctx,
                    hint=Hint.CREDENTIALS,
                )
            raise AuthError("token server refused the credentials", ctx, hint=Hint.CREDENTIALS)
        return self._token(response, ctx)

    def _token(self, response: httpx.Response, ctx: ErrorContext) -> _Token:
        try:
            body = response.json()
            value = body.get("token") or body.get("access_token")
        except ValueError:
            value = None
            body = {}
        if not value:
            raise AuthError("token server reply holds no token", ctx)
        lifetime = max(float(body.get("expires_in") or MIN_TOKEN_LIFETIME), MIN_TOKEN_LIFETIME)
        return _Token(str(value), self._clock.monotonic() + lifetime)
