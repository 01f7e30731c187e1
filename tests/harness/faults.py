"""Deliberate fakes for what no local ``docker-registry`` 2.8 does on its own.

Registry 2.8 never answers 503/429, never sends ``Retry-After`` or Docker Hub's
``ratelimit-*`` headers, never redirects blob GETs to object storage, and
ignores ``n``/``last`` on ``tags/list`` (it always returns every tag, without a
``Link`` header).  The tests that need those behaviours put a
:class:`FaultProxy` in front of a real registry and, for redirects, a
:class:`BlobStore` on another port.  Everything else is forwarded unchanged.

* :class:`FaultProxy` - threaded HTTP(S) reverse proxy on 127.0.0.1.  The
  ``Host`` header is forwarded as sent, so the registry builds ``Location``
  and ``Link`` URLs that point back at the proxy.  Rules (checked per request,
  first match wins; ``path_re`` is searched in the path without the query):

  - :meth:`FaultProxy.fail` - answer ``times`` matching requests (``None`` =
    always) with a status, headers and body instead of forwarding, after
    letting the first ``skip`` matching requests through untouched; with
    ``forward=True`` the request still reaches the registry first (a lost
    answer), with ``drop=True`` the connection is closed without any answer;
    ``min_body`` restricts the rule to requests carrying at least that many
    body bytes (a monolithic blob ``PUT``, not the empty closing one);
  - :meth:`FaultProxy.cut` - forward matching requests, then send the real
    status and headers (``Content-Length`` included) but only the first
    ``after`` bytes of the body, and close the connection: an answer lost
    mid-stream;
  - :meth:`FaultProxy.tamper` - forward matching requests, then answer with
    the real status, a rewritten body (a corrupted blob) and replaced headers
    (a manifest served with an unknown ``Content-Type``);
  - :meth:`FaultProxy.stall` - hold matching requests ``seconds`` before
    forwarding them: an answer slower than the client's deadline;
  - :meth:`FaultProxy.redirect` - answer with a 307 to a URL built from the
    path's regex match;
  - :meth:`FaultProxy.add_header` - add a header to forwarded responses;
  - :meth:`FaultProxy.paginate_tags` - serve ``tags/list`` in pages honouring
    ``n`` and ``last`` (tags sorted, as distribution 3 does) with a relative
    ``Link: </v2/...>; rel="next"``; ``page_size`` serves pages shorter than
    ``n`` to prove clients do not stop at a short page;
  - :meth:`FaultProxy.hold` - park matching requests until ``until_in_flight``
    requests are in flight at once, ``timeout`` passes, or the test calls
    :meth:`FaultProxy.release_hold` (one hold window);
  - :meth:`FaultProxy.refuse_mounts` - forward a cross-repository mount
    (``POST .../blobs/uploads/?mount=D&from=R``) without its ``mount`` and
    ``from`` parameters, so the registry opens a plain upload (202) instead,
    as a registry that refuses mounts does.

  Every request is recorded (:meth:`FaultProxy.requests`, :meth:`count`), as
  are ``in_flight`` and ``max_in_flight``.  A request counts as in flight from
  the arrival of its headers, through the reading of its body, until the proxy
  is about to write the last piece of its answer (answer bodies are written in
  pieces of :data:`SEND_PIECE` bytes).  So an answer body the client is still
  reading (a blob stream) keeps its request in flight, while a client that
  waits for whole answers before sending more can never appear to exceed its
  cap: it cannot have the last byte before the count dropped.

* :class:`BlobStore` - a fake object store: ``GET /blobs/<digest>`` serves
  ``objects[digest]`` and records every request's headers.
"""

from __future__ import annotations

import http.client
import json
import re
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Self
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.harness.threaded import BackgroundServer

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
_TAGS_PATH = re.compile(r"^/v2/(?P<name>.+)/tags/list$")
_UPLOADS_PATH = re.compile(r"^/v2/.+/blobs/uploads/$")
#: Answer bodies are written in pieces of this size (see the module docstring).
SEND_PIECE = 64 << 10


@dataclass(frozen=True)
class SeenRequest:
    """One request as received (header names lower-cased)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    time: float

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")


@dataclass
class Fault:
    """Answer matching requests with ``status`` (``times`` left; ``None`` = always)."""

    path_re: re.Pattern[str]
    status: int
    method: str | None = None
    times: int | None = 1
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    forward: bool = False
    drop: bool = False
    skip: int = 0
    min_body: int = 0
    cut: int | None = None
    rewrite: Callable[[bytes], bytes] | None = None
    """Forward, then answer with the real status and this body (see
    :meth:`FaultProxy.tamper`); ``headers`` replace the real ones."""
    delay: float = 0.0
    """Forward after this many seconds (see :meth:`FaultProxy.stall`)."""
    hits: int = 0
    passed: int = 0


@dataclass
class Redirect:
    """Answer matching requests with ``status`` and ``Location: to(match)``."""

    path_re: re.Pattern[str]
    to: Callable[[re.Match[str]], str]
    method: str | None = "GET"
    status: int = 307
    times: int | None = None
    hits: int = 0


def _matches(rule_method: str | None, rule_re: re.Pattern[str], method: str, path: str) -> bool:
    return (rule_method is None or rule_method == method) and rule_re.search(path) is not None


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
        out = bytearray()
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return bytes(out)
            out += handler.rfile.read(size)
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


class _Base:
    """Start/stop plumbing shared by the proxy and the blob store."""

    _background: BackgroundServer | None = None
    _ssl_context: ssl.SSLContext | None = None
    port: int = 0
    scheme: str = "http"

    def start(self) -> Self:
        """Bind 127.0.0.1:0 and serve in a daemon thread; returns self."""
        if self._background is None:
            self._start(self._ssl_context)
        return self

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    def _start(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self._background = BackgroundServer(
            self._handler(), name=type(self).__name__, ssl_context=ssl_context
        )
        self.port = self._background.port
        if ssl_context is not None:
            self.scheme = "https"

    def stop(self) -> None:
        """Shut the server down and join its thread."""
        background, self._background = self._background, None
        if background is not None:
            background.stop()

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """``http(s)://127.0.0.1:PORT``."""
        return f"{self.scheme}://{self.host}"


class FaultProxy(_Base):
    """Reverse proxy to ``upstream`` (``host:port``, plain HTTP) that injects faults."""

    def __init__(self, upstream: str, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self.upstream = upstream
        self._ssl_context = ssl_context
        self._cond = threading.Condition()
        self._seen: list[SeenRequest] = []
        self.faults: list[Fault] = []
        self.redirects: list[Redirect] = []
        self.extra_headers: list[tuple[re.Pattern[str], str, str]] = []
        self.tags_pagination = False
        self.tags_page_size: int | None = None
        self.in_flight = 0
        self.max_in_flight = 0
        self.mounts_refused = 0
        self._refuse_mounts = False
        self._hold: tuple[re.Pattern[str], int, float] | None = None

    # ------------------------------------------------------------ lifecycle

    # ---------------------------------------------------------------- rules
    def fail(
        self,
        path_re: str,
        status: int,
        *,
        times: int | None = 1,
        method: str | None = None,
        headers: dict[str, str] | None = None,
        body: bytes | dict[str, Any] = b"",
        forward: bool = False,
        drop: bool = False,
        skip: int = 0,
        min_body: int = 0,
    ) -> Fault:
        """Answer the next ``times`` matching requests with ``status`` (after
        forwarding them if ``forward``), or close the connection if ``drop``."""
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        hdrs = dict(headers or {})
        if isinstance(body, dict):
            hdrs.setdefault("Content-Type", "application/json")
        fault = Fault(
            re.compile(path_re), status, method, times, hdrs, data, forward, drop, skip, min_body
        )
        with self._cond:
            self.faults.append(fault)
        return fault

    def cut(
        self, path_re: str, *, after: int, times: int | None = 1, method: str | None = "GET"
    ) -> Fault:
        """Forward the next ``times`` matching requests but send only the
        first ``after`` bytes of each answer's body, then close the connection."""
        fault = Fault(re.compile(path_re), 0, method, times, cut=after)
        with self._cond:
            self.faults.append(fault)
        return fault

    def tamper(
        self,
        path_re: str,
        *,
        body: Callable[[bytes], bytes] = lambda data: data,
        headers: dict[str, str] | None = None,
        times: int | None = None,
        method: str | None = "GET",
    ) -> Fault:
        """Forward matching requests, then answer with the real status, the
        body passed through ``body`` (corrupt a blob) and ``headers``
        replacing the real ones (a manifest served as an unknown type)."""
        fault = Fault(re.compile(path_re), 0, method, times, dict(headers or {}), rewrite=body)
        with self._cond:
            self.faults.append(fault)
        return fault

    def stall(
        self, path_re: str, seconds: float, *, times: int | None = None, method: str | None = None
    ) -> Fault:
        """Hold matching requests ``seconds`` (a registry too slow to answer),
        then forward them; a client that gave up meanwhile gets nothing."""
        fault = Fault(re.compile(path_re), 0, method, times, delay=seconds)
        with self._cond:
            self.faults.append(fault)
        return fault

    def redirect(
        self,
        path_re: str,
        to: Callable[[re.Match[str]], str],
        *,
        method: str | None = "GET",
        status: int = 307,
        times: int | None = None,
    ) -> Redirect:
        """Redirect matching requests to ``to(match)``."""
        rule = Redirect(re.compile(path_re), to, method, status, times)
        with self._cond:
            self.redirects.append(rule)
        return rule

    def add_header(self, path_re: str, name: str, value: str) -> None:
        """Add ``name: value`` to forwarded responses for matching paths."""
        with self._cond:
            self.extra_headers.append((re.compile(path_re), name, value))

    def paginate_tags(self, *, page_size: int | None = None) -> None:
        """Serve ``tags/list`` in pages (see the module docstring)."""
        self.tags_pagination = True
        self.tags_page_size = page_size

    def hold(self, path_re: str, *, until_in_flight: int, timeout: float) -> None:
        """Park matching requests until ``until_in_flight`` are in flight at
        once, or ``timeout`` seconds pass; then the window closes for good."""
        with self._cond:
            self._hold = (re.compile(path_re), until_in_flight, timeout)

    def release_hold(self) -> None:
        """Close the hold window now: the parked requests go on."""
        with self._cond:
            self._hold = None
            self._cond.notify_all()

    def refuse_mounts(self) -> None:
        """Turn every cross-repository mount into a plain upload start (the
        registry answers 202 with an upload Location); counted in
        ``mounts_refused``."""
        with self._cond:
            self._refuse_mounts = True

    def _target(self, method: str, path: str, raw: str) -> str:
        """The path and query to forward: a mount loses ``mount`` and
        ``from`` while mounts are refused."""
        query = parse_qs(urlsplit(raw).query, keep_blank_values=True)
        if method != "POST" or "mount" not in query or not _UPLOADS_PATH.match(path):
            return raw
        with self._cond:
            if not self._refuse_mounts:
                return raw
            self.mounts_refused += 1
        kept = [(k, v) for k, values in query.items() if k not in ("mount", "from") for v in values]
        return f"{path}?{urlencode(kept)}" if kept else path

    # ------------------------------------------------------------ recording
    def requests(self) -> list[SeenRequest]:
        """Snapshot of the requests received so far."""
        with self._cond:
            return list(self._seen)

    def count(self, method: str | None = None, path_re: str | None = None) -> int:
        """How many received requests match ``method`` and ``path_re``."""
        rx = re.compile(path_re) if path_re else None
        return sum(
            1
            for r in self.requests()
            if (method is None or r.method == method) and (rx is None or rx.search(r.path))
        )

    # ------------------------------------------------------------- handling
    def _enter(self, method: str, path: str) -> None:
        with self._cond:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self._cond.notify_all()
            hold = self._hold
            if hold is None or not hold[0].search(path):
                return
            _, threshold, timeout = hold
            self._cond.wait_for(
                lambda: self._hold is None or self.in_flight >= threshold, timeout=timeout
            )
            self._hold = None
            self._cond.notify_all()

    def _leave(self) -> None:
        with self._cond:
            self.in_flight -= 1

    def _pick(self, method: str, path: str, body_size: int) -> Fault | Redirect | None:
        with self._cond:
            rules: list[Fault | Redirect] = [*self.faults, *self.redirects]
            for rule in rules:
                if rule.times is not None and rule.hits >= rule.times:
                    continue
                if isinstance(rule, Fault) and body_size < rule.min_body:
                    continue
                if _matches(rule.method, rule.path_re, method, path):
                    if isinstance(rule, Fault) and rule.passed < rule.skip:
                        rule.passed += 1
                        continue
                    rule.hits += 1
                    return rule
        return None

    def _forward(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        out = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}
        out.pop("content-length", None)
        out["X-Forwarded-Proto"] = self.scheme
        if body or method in ("POST", "PUT", "PATCH"):
            out["Content-Length"] = str(len(body))
        host, _, port = self.upstream.rpartition(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            conn.request(method, target, body=body or None, headers=out)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, resp.getheaders(), data
        finally:
            conn.close()

    def _tags_page(
        self, name: str, query: dict[str, list[str]], headers: dict[str, str]
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        status, hdrs, data = self._forward("GET", f"/v2/{name}/tags/list", headers, b"")
        if status != 200:
            return status, hdrs, data
        tags = sorted(json.loads(data).get("tags") or [])
        last = (query.get("last") or [""])[0]
        n = int((query.get("n") or ["0"])[0] or 0) or len(tags)
        if self.tags_page_size:
            n = min(n, self.tags_page_size)
        rest = [t for t in tags if t > last] if last else tags
        page = rest[:n]
        out = [(k, v) for k, v in hdrs if k.lower() not in ("content-length", "link")]
        if len(rest) > len(page):
            out.append(("Link", f'</v2/{name}/tags/list?n={n}&last={page[-1]}>; rel="next"'))
        return 200, out, json.dumps({"name": name, "tags": page}).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 30

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                method, path = self.command, parts.path
                headers = {k.lower(): v for k, v in self.headers.items()}
                seen = SeenRequest(
                    method,
                    path,
                    parse_qs(parts.query, keep_blank_values=True),
                    headers,
                    time.time(),
                )
                with proxy._cond:
                    proxy._seen.append(seen)
                left = False

                def leave() -> None:
                    nonlocal left
                    if not left:
                        left = True
                        proxy._leave()

                proxy._enter(method, path)
                try:
                    self._exchange(method, path, seen, leave)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (a stall)
                    self.close_connection = True
                finally:
                    leave()

            def _exchange(
                self, method: str, path: str, seen: SeenRequest, leave: Callable[[], None]
            ) -> None:
                body = _read_body(self)
                rule = proxy._pick(method, path, len(body))
                status, resp_headers, data = self._answer(rule, method, path, seen, body)
                if status == 0:  # a dropped connection
                    self.close_connection = True
                    return
                cut = rule.cut if isinstance(rule, Fault) else None
                self._send(method, status, resp_headers, data, cut=cut, last=leave)
                if cut is not None:
                    self.close_connection = True

            def _answer(
                self,
                rule: Fault | Redirect | None,
                method: str,
                path: str,
                seen: SeenRequest,
                body: bytes,
            ) -> tuple[int, list[tuple[str, str]], bytes]:
                target = proxy._target(method, path, self.path)
                if isinstance(rule, Fault) and rule.delay:
                    time.sleep(rule.delay)
                    try:
                        return proxy._forward(method, target, seen.headers, body)
                    except OSError:  # the test is over and its registry gone
                        return 0, [], b""
                if isinstance(rule, Fault) and rule.cut is not None:
                    return proxy._forward(method, target, seen.headers, body)
                if isinstance(rule, Fault) and rule.rewrite is not None:
                    status, hdrs, data = proxy._forward(method, target, seen.headers, body)
                    replaced = {k.lower() for k in rule.headers}
                    kept = [(k, v) for k, v in hdrs if k.lower() not in replaced]
                    return status, [*kept, *rule.headers.items()], rule.rewrite(data)
                if isinstance(rule, Fault):
                    if rule.forward:
                        proxy._forward(method, target, seen.headers, body)
                    if rule.drop:
                        return 0, [], b""
                    return rule.status, list(rule.headers.items()), rule.body
                if isinstance(rule, Redirect):
                    match = rule.path_re.search(path)
                    assert match is not None
                    return rule.status, [("Location", rule.to(match))], b""
                m = _TAGS_PATH.match(path)
                if proxy.tags_pagination and method == "GET" and m:
                    status, hdrs, data = proxy._tags_page(m["name"], seen.query, seen.headers)
                else:
                    status, hdrs, data = proxy._forward(method, target, seen.headers, body)
                with proxy._cond:
                    extra = [(n, v) for rx, n, v in proxy.extra_headers if rx.search(path)]
                return status, [*hdrs, *extra], data

            def _send(
                self,
                method: str,
                status: int,
                headers: list[tuple[str, str]],
                data: bytes,
                *,
                cut: int | None = None,
                last: Callable[[], None] = lambda: None,
            ) -> None:
                """Send the answer; ``last`` runs just before its last write."""
                self.send_response(status)
                has_length = False
                for k, v in headers:
                    lk = k.lower()
                    if lk in _HOP_BY_HOP or lk in ("date", "server"):
                        continue
                    if lk == "content-length":
                        if method != "HEAD":
                            continue  # recomputed below from the body we send
                        has_length = True
                    self.send_header(k, v)
                if method != "HEAD" or not has_length:
                    self.send_header("Content-Length", str(len(data)))
                payload = b""
                if method != "HEAD" and status not in (204, 304):
                    payload = data if cut is None else data[:cut]
                if not payload:
                    last()
                self.end_headers()
                for start in range(0, len(payload), SEND_PIECE):
                    if start + SEND_PIECE >= len(payload):
                        last()
                    self.wfile.write(payload[start : start + SEND_PIECE])

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        return Handler


class BlobStore(_Base):
    """Fake object storage: ``GET /blobs/<digest>`` serves ``objects[digest]``."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._seen: list[SeenRequest] = []

    def url_for(self, digest: str) -> str:
        """Where a blob lives, with a presigned-looking query."""
        return f"{self.url}/blobs/{digest}?X-Amz-Signature=fake"

    def requests(self) -> list[SeenRequest]:
        """Snapshot of the requests received so far."""
        with self._lock:
            return list(self._seen)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        store = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 30

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                headers = {k.lower(): v for k, v in self.headers.items()}
                with store._lock:
                    store._seen.append(
                        SeenRequest("GET", parts.path, parse_qs(parts.query), headers, time.time())
                    )
                digest = parts.path.removeprefix("/blobs/")
                data = store.objects.get(digest)
                self.send_response(200 if data is not None else 404)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data or b"")))
                self.end_headers()
                self.wfile.write(data or b"")

        return Handler
