"""A small hostile fake registry, for what no real ``docker-registry`` does.

A deliberate fake: a real registry never streams an endless manifest, a 500
with an endless body or an endless token reply, never trickles a byte at a
time, never serves descriptors whose digest is ``sha256:../../etc/passwd``,
never paginates tags in a loop, and never redirects from one loopback address
to another. :class:`HostileRegistry` does each of those on demand, so the
client's defences can be tested against a server that means harm.

It speaks just enough of the distribution API to be reached by hangard:
``GET /v2/`` answers 200 unless a rule says otherwise. Everything else is a
rule, added with :meth:`HostileRegistry.route` (``path_re`` is searched in
the path without the query; the last matching rule wins, so a test can
override the default ping). Answers are built by the responders below:

* :func:`json_reply` - a fixed answer (``bytes`` or a JSON document);
* :func:`endless` - a status and headers, then a chunked body that never
  ends (until the client hangs up or ``limit`` bytes are sent);
* :func:`trickle` - a body sent one byte every ``interval`` seconds;
* :func:`redirect` - a 307 to a URL built from the path's regex match.

:data:`MANIFEST` is a small valid image manifest for them to serve or take.

Every request is recorded (:meth:`HostileRegistry.requests`). It binds
``host`` (127.0.0.1 unless told; 127.0.0.2 is a second loopback host on
Linux, a different origin for redirect tests).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from hangard.core import mediatypes as mt
from hangard.registry.client import RegistryClient
from hangard.registry.clock import SYSTEM_CLOCK, Clock
from hangard.registry.credentials import CredentialStore
from hangard.registry.options import ClientOptions, RegistryOptions
from tests.harness.faults import SeenRequest
from tests.harness.threaded import BackgroundServer

__all__ = [
    "MANIFEST",
    "Handler",
    "HostileRegistry",
    "Responder",
    "endless",
    "json_reply",
    "redirect",
    "trickle",
]

Responder = Callable[["Handler", "re.Match[str]"], None]
"""Writes a whole answer on the handler for a request whose path matched."""

_CHUNK = b"[" * 65536

#: A small valid OCI image manifest (no layers), for a route to serve or take.
MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": "sha256:" + "c" * 64,
            "size": 2,
        },
        "layers": [],
    }
).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30
    owner: HostileRegistry

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        seen = SeenRequest(
            self.command,
            parts.path,
            parse_qs(parts.query, keep_blank_values=True),
            headers,
            time.time(),
        )
        self.owner._record(seen)
        responder, match = self.owner._pick(self.command, parts.path)
        try:
            responder(self, match)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def head(self, status: int, headers: dict[str, str]) -> None:
        """Send the status line and headers."""
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    @property
    def stopping(self) -> bool:
        return self.owner.stopping.is_set()


def json_reply(
    status: int = 200, body: bytes | dict[str, Any] = b"", headers: dict[str, str] | None = None
) -> Responder:
    """A fixed answer; a ``dict`` body is sent as JSON."""
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    hdrs = dict(headers or {})
    if isinstance(body, dict):
        hdrs.setdefault("Content-Type", "application/json")

    def respond(h: Handler, _m: re.Match[str]) -> None:
        h.head(status, {"Content-Length": str(len(data)), **hdrs})
        if h.command != "HEAD":
            h.wfile.write(data)

    return respond


def endless(
    status: int = 200,
    headers: dict[str, str] | None = None,
    *,
    prefix: bytes = b"",
    limit: int = 1 << 40,
) -> Responder:
    """``prefix``, then ``[`` without end in a chunked body (stops after
    ``limit`` bytes, when the client hangs up, or when the server stops)."""

    def respond(h: Handler, _m: re.Match[str]) -> None:
        h.head(status, {**(headers or {}), "Transfer-Encoding": "chunked"})
        sent = 0
        first = prefix or _CHUNK
        while sent < limit and not h.stopping:
            piece = first if sent == 0 else _CHUNK
            h.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            sent += len(piece)
        h.wfile.write(b"0\r\n\r\n")
        h.close_connection = True

    return respond


def trickle(
    body: bytes,
    *,
    interval: float,
    status: int = 200,
    headers: dict[str, str] | None = None,
    length: int | None = None,
) -> Responder:
    """``body`` one byte every ``interval`` seconds, announced as ``length``
    bytes (default: its own length)."""

    def respond(h: Handler, _m: re.Match[str]) -> None:
        size = len(body) if length is None else length
        h.head(status, {**(headers or {}), "Content-Length": str(size)})
        for i in range(len(body)):
            if h.stopping:
                break
            h.wfile.write(body[i : i + 1])
            h.wfile.flush()
            h.owner.stopping.wait(interval)
        h.close_connection = True

    return respond


def redirect(to: Callable[[re.Match[str]], str], status: int = 307) -> Responder:
    """``status`` with ``Location: to(match)``."""

    def respond(h: Handler, m: re.Match[str]) -> None:
        h.head(status, {"Location": to(m), "Content-Length": "0"})

    return respond


@dataclass
class _Rule:
    method: str | None
    path_re: re.Pattern[str]
    responder: Responder


class HostileRegistry:
    """The fake registry; use as a context manager or :meth:`start`/:meth:`stop`."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.bind = host
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._seen: list[SeenRequest] = []
        self._rules: list[_Rule] = [_Rule("GET", re.compile(r"^/v2/$"), json_reply(200, {}))]
        self._background: BackgroundServer | None = None
        self.port = 0

    def start(self) -> HostileRegistry:
        if self._background is None:
            handler = type("Handler", (Handler,), {"owner": self})
            self._background = BackgroundServer(handler, name="hostile", host=self.bind)
            self.port = self._background.port
        return self

    def stop(self) -> None:
        self.stopping.set()
        background, self._background = self._background, None
        if background is not None:
            background.stop()

    def __enter__(self) -> HostileRegistry:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def host(self) -> str:
        """``ADDRESS:PORT``."""
        return f"{self.bind}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def route(self, path_re: str, responder: Responder, *, method: str | None = "GET") -> None:
        """Answer matching requests with ``responder`` (``method=None``: any)."""
        with self._lock:
            self._rules.append(_Rule(method, re.compile(path_re), responder))

    def requests(self) -> list[SeenRequest]:
        """Snapshot of the requests received so far."""
        with self._lock:
            return list(self._seen)

    def paths(self) -> list[str]:
        """The path of every request received, in order."""
        return [r.path for r in self.requests()]

    def _record(self, seen: SeenRequest) -> None:
        with self._lock:
            self._seen.append(seen)

    def _pick(self, method: str, path: str) -> tuple[Responder, re.Match[str]]:
        with self._lock:
            rules = list(self._rules)
        for rule in reversed(rules):
            if rule.method is not None and rule.method != method:
                continue
            match = rule.path_re.search(path)
            if match is not None:
                return rule.responder, match
        fallback = re.compile(".*").match(path)
        assert fallback is not None
        return json_reply(
            404, {"errors": [{"code": "NAME_UNKNOWN", "message": "nothing here"}]}
        ), fallback


def client_for(
    server: HostileRegistry, *, attempts: int = 1, clock: Clock = SYSTEM_CLOCK, **options: Any
) -> RegistryClient:
    """A client that talks plain HTTP to ``server``, anonymously, with fast
    retries (``attempts`` in all), ``clock`` and any other :class:`ClientOptions`."""
    settings = {"backoff_base": 0.01, "max_attempts": attempts, **options}
    opts = ClientOptions(registries={server.host: RegistryOptions(http=True)}, **settings)
    return RegistryClient(opts, CredentialStore(environ={}), clock=clock)
