"""Asking a running daemon how it is: ``GET /status`` on its listener, for
``hangard status``. Every failure is one :class:`DaemonUnreachableError`
that names the address and what to check."""

from __future__ import annotations

import json
from typing import Any

import httpx

from hangard.errors import DaemonUnreachableError

__all__ = ["daemon_url", "fetch_status"]

REMEDY = (
    "is the daemon running? `systemctl status hangard`; "
    "otherwise pass --url or set HANGARD_METRICS_ADDRESS to its listen address"
)

#: a listener on every address is reached on loopback
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}

#: a status document is a few hundred bytes per item; this is far past any config
MAX_STATUS_BYTES = 64 * 1024 * 1024


def daemon_url(host: str, port: int) -> str:
    """The URL a client uses for a daemon listening on ``host:port``."""
    host = _WILDCARDS.get(host, host)
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def fetch_status(url: str, *, timeout: float) -> dict[str, Any]:
    """The daemon's ``/status`` document at base ``url``."""
    where = url.rstrip("/") + "/status"
    try:
        with (
            httpx.Client(timeout=timeout, trust_env=False) as client,
            client.stream("GET", where) as response,
        ):
            body = _read_capped(response)
    except httpx.TimeoutException:
        raise DaemonUnreachableError(
            f"no answer from {where} within {timeout:g}s", remedy=REMEDY
        ) from None
    except httpx.HTTPError as exc:
        why = _why(exc)
        raise DaemonUnreachableError(f"cannot reach {where}: {why}", remedy=REMEDY) from None
    if response.status_code != 200:
        raise DaemonUnreachableError(
            f"{where} answered HTTP {response.status_code}, not a hangard status",
            remedy="check that --url points at hangard's HANGARD_METRICS_ADDRESS",
        )
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or not isinstance(doc.get("items"), list):
        raise DaemonUnreachableError(
            f"{where} did not answer with hangard's status document",
            remedy="check that --url points at hangard's HANGARD_METRICS_ADDRESS",
        )
    return doc


def _read_capped(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_STATUS_BYTES:
            raise DaemonUnreachableError(
                f"{response.request.url} sent more than {MAX_STATUS_BYTES} bytes",
                remedy="check that --url points at hangard's HANGARD_METRICS_ADDRESS",
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _why(exc: httpx.HTTPError) -> str:
    """``connection refused`` rather than httpx's ``[Errno 111] Connection refused``."""
    text = str(exc) or type(exc).__name__
    cause = exc.__context__ or exc.__cause__
    while cause is not None:
        if isinstance(cause, OSError) and cause.strerror:
            text = cause.strerror
        cause = cause.__cause__ or cause.__context__
    return text.lower() if text.startswith("Connection") else text
