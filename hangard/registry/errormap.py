"""The translation of registry answers and httpx failures into
:mod:`hangard.errors`, in one place.

:func:`response_error` reads an error answer (status, and the
``{"errors": [...]}`` body, leniently); :func:`transport_error` reads an
httpx exception (timeouts, refused connections, TLS and proxy trouble, plain
HTTP spoken to an HTTPS client). Both are pure; the transport calls them at
its boundary and raises the result ``from`` the cause.

A remedy that depends on where the user acts (TLS, plain HTTP, credentials)
is a :class:`~hangard.errors.Hint`, written for the command line or the
config by :mod:`hangard.hints`; the others are plain text.
"""

from __future__ import annotations

import errno
import json
import socket
from urllib.parse import urlsplit

import httpx

from hangard.errors import (
    AuthError,
    ErrorContext,
    Hint,
    NotFoundError,
    RateLimitedError,
    ResponseError,
    ServerError,
    TransportError,
    TransportTimeoutError,
)

__all__ = [
    "PROXY_REMEDY",
    "parse_error_body",
    "redact_userinfo",
    "response_error",
    "transport_error",
]

_NOT_FOUND_CODES = {"MANIFEST_UNKNOWN", "BLOB_UNKNOWN", "NAME_UNKNOWN"}
_AUTH_CODES = {"UNAUTHORIZED", "DENIED"}
_PLAIN_HTTP_MARKERS = (
    "wrong version number",
    "record layer failure",
    "http request",
    "packet length",
)
PROXY_REMEDY = (
    "check the proxy URL and its credentials in HTTPS_PROXY / HTTP_PROXY "
    "(http://user:password@host:port), or list the registry in NO_PROXY"
)


def parse_error_body(response: httpx.Response) -> tuple[str | None, str | None]:
    """``(code, message)`` from a registry error body, leniently."""
    try:
        raw = response.content
    except httpx.ResponseNotRead:
        return None, None
    if not raw:
        return None, None
    try:
        doc = json.loads(raw)
    except ValueError:
        text = raw[:200].decode("utf-8", "replace").strip()
        return None, text or None
    errors = doc.get("errors") if isinstance(doc, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        return (str(first.get("code") or "") or None), (str(first.get("message") or "") or None)
    if isinstance(doc, dict) and doc.get("message"):
        return None, str(doc["message"])
    return None, None


def response_error(
    response: httpx.Response, *, registry: str, image: str | None = None
) -> ResponseError:
    """Translate an error response into the matching :class:`ResponseError`."""
    code, message = parse_error_body(response)
    status = response.status_code
    method = response.request.method
    ctx = ErrorContext(
        image=image,
        registry=registry,
        method=method,
        url=str(response.request.url.copy_with(query=None)),
        status=status,
        code=code,
        detail=message,
    )
    text = message or response.reason_phrase or f"HTTP {status}"
    writing = method in ("PUT", "POST", "PATCH", "DELETE")
    if code in _NOT_FOUND_CODES or (status == 404 and not code):
        remedy = None
        if code == "MANIFEST_UNKNOWN" and writing:
            remedy = (
                "the registry calls content unknown right after it was pushed; on Harbor this "
                "happens after deletions until garbage collection runs: run GC, then retry"
            )
        elif code == "MANIFEST_UNKNOWN" or (status == 404 and "/manifests/" in (ctx.url or "")):
            shown = image or "IMAGE"
            remedy = f"image does not exist: check with `hangard inspect --raw docker://{shown}`"
        return NotFoundError(text, ctx, remedy=remedy)
    if status in (401, 403) or code in _AUTH_CODES:
        hint = Hint.PUSH_CREDENTIALS if writing else Hint.CREDENTIALS
        return AuthError(text, ctx, hint=hint)
    if status == 429 or code == "TOOMANYREQUESTS":
        return RateLimitedError(text, ctx, remedy="lower concurrency or wait for the quota window")
    if status >= 500:
        return ServerError(text, ctx)
    return ResponseError(text, ctx)


def transport_error(
    exc: Exception,
    *,
    registry: str,
    method: str,
    url: str,
    image: str | None = None,
    proxy: str | None = None,
    attempts: int = 1,
) -> TransportError:
    """``proxy``: the proxy the request went through, if any (its
    credentials are never shown); ``attempts``: how often it was tried."""
    ctx = ErrorContext(image=image, registry=registry, method=method, url=url)
    text = str(exc) or exc.__class__.__name__
    lowered = text.lower()
    if proxy is not None:
        via = f"through proxy {redact_userinfo(proxy)}"
        if isinstance(exc, httpx.ProxyError):
            return TransportError(
                f"proxy refused the request ({via}): {text}", ctx, remedy=PROXY_REMEDY
            )
        text = f"{text} ({via})"
    tried = f" after {attempts} attempts" if attempts > 1 else ""
    if isinstance(exc, httpx.TimeoutException):
        return TransportTimeoutError(f"timed out{tried}: {text}", ctx)
    if any(marker in lowered for marker in _PLAIN_HTTP_MARKERS) and url.startswith("https:"):
        return TransportError(
            "server gave HTTP response to HTTPS client", ctx, hint=Hint.PLAIN_HTTP
        )
    if "certificate" in lowered:
        return TransportError(f"TLS verification failed: {text}", ctx, hint=Hint.UNTRUSTED_CA)
    cause = _os_cause(exc)
    if cause:
        text = f"{cause} ({text})" if cause.lower() not in lowered else text
    return TransportError(f"connection failed{tried}: {text}", ctx)


def _os_cause(exc: BaseException) -> str | None:
    """What the socket said, deep in the chain httpx and anyio build
    (``All connection attempts failed`` hides ``connection refused``)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, socket.gaierror):
            return f"cannot resolve the host name: {current.strerror or current}"
        if isinstance(current, OSError) and current.errno is not None:
            if current.errno == errno.ECONNREFUSED:
                return "connection refused"
            return (current.strerror or str(current)).lower()
        current = current.__cause__ or current.__context__
    return None


def redact_userinfo(url: str) -> str:
    """``url`` without ``user:password@``."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()
