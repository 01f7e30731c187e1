"""A fake Harbor: a mock of Harbor's project API in front of a REAL registry.

No Harbor can run here (it is a dozen services and a database), so this is a
deliberate fake, and only of what hangard relies on. Everything under
``/v2/`` that it lets through reaches the real ``docker-registry`` it fronts,
unchanged except that the ``Authorization`` header is dropped (the registry
behind has no auth of its own). Like Harbor (``src/server/middleware/v2auth``
and ``repoproxy``, read for this):

* ``/v2/`` wants Basic auth (``users``): without it, 401 with
  ``Www-Authenticate: Basic realm="harbor"``;
* any request into a project (the first path component) that does not exist
  is answered 401 ``UNAUTHORIZED``, pulls and pushes alike;
* a push (POST, PUT, PATCH, DELETE) into a proxy-cache project is answered
  403 ``DENIED`` ``can not push artifact to a proxy project: NAME``;
* ``GET /api/v2.0/ping`` answers 200 ``Pong``, unauthenticated;
* ``HEAD /api/v2.0/projects?project_name=P`` (Basic auth): 200 or 404;
* ``POST /api/v2.0/projects`` (Basic auth, JSON ``project_name`` and
  ``metadata.public``): 201 with a ``Location``, 409 when it exists, 403
  when ``refuse_creation`` is set (a robot account without the right), 400
  for a name Harbor does not allow (``a__b``, valid in a registry path).

Knobs: :meth:`add_project` (``proxy_cache=True`` marks one as a proxy
cache), ``refuse_creation``, ``race_on_create`` (the POST creates the project
but answers 409, as when another client created it in between), and
``redirect_api`` (the project ``HEAD`` is answered with a 302 to that base
URL: another origin, which must never see the credentials). Every request is
recorded (:meth:`requests`, :meth:`count`).
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.harness.faults import _HOP_BY_HOP, SeenRequest, _Base, _read_body

__all__ = ["FakeHarbor"]

_PUSH_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_REPO_PATH = re.compile(r"^/v2/(?P<project>[^/]+)/")
#: Harbor's rule for project names (stricter than a path component's).
_NAME = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")
Answer = tuple[int, list[tuple[str, str]], bytes]


def _error(status: int, code: str, message: str, *headers: tuple[str, str]) -> Answer:
    body = json.dumps({"errors": [{"code": code, "message": message}]}).encode()
    return status, [("Content-Type", "application/json"), *headers], body


class FakeHarbor(_Base):
    """Harbor's project rules and API over the registry at ``upstream`` (``host:port``)."""

    def __init__(self, upstream: str, *, users: dict[str, str]) -> None:
        self.upstream = upstream
        self.users = dict(users)
        self.projects: dict[str, dict[str, Any]] = {}
        """name -> ``{"public": "false", "proxy_cache": False}``."""
        self.refuse_creation = False
        self.race_on_create = False
        self.redirect_api: str | None = None
        self._lock = threading.Lock()
        self._seen: list[SeenRequest] = []

    def add_project(self, name: str, *, proxy_cache: bool = False) -> None:
        with self._lock:
            self.projects[name] = {"public": "false", "proxy_cache": proxy_cache}

    def requests(self) -> list[SeenRequest]:
        with self._lock:
            return list(self._seen)

    def count(self, method: str | None = None, path_re: str | None = None) -> int:
        rx = re.compile(path_re) if path_re else None
        return sum(
            1
            for r in self.requests()
            if (method is None or r.method == method) and (rx is None or rx.search(r.path))
        )

    # ------------------------------------------------------------ answers

    def _user(self, headers: dict[str, str]) -> str | None:
        value = headers.get("authorization", "")
        if not value.lower().startswith("basic "):
            return None
        try:
            user, _, password = base64.b64decode(value[6:]).decode().partition(":")
        except ValueError:
            return None
        return user if self.users.get(user) == password else None

    def _api(self, method: str, target: str, seen: SeenRequest, body: bytes) -> Answer:
        path = seen.path
        if path == "/api/v2.0/ping" and method == "GET":
            return 200, [("Content-Type", "text/plain")], b"Pong"
        if path != "/api/v2.0/projects":
            return _error(404, "NOT_FOUND", "not found")
        if method == "HEAD" and self.redirect_api:
            return 302, [("Location", f"{self.redirect_api}{target}")], b""
        if self._user(seen.headers) is None:
            return _error(401, "UNAUTHORIZED", "unauthorized")
        if method == "HEAD":
            name = (seen.query.get("project_name") or [""])[0]
            with self._lock:
                return (200 if name in self.projects else 404), [], b""
        if method == "POST":
            return self._create(body)
        return _error(405, "METHOD_NOT_ALLOWED", "method not allowed")

    def _create(self, body: bytes) -> Answer:
        try:
            doc = json.loads(body)
            name = str(doc["project_name"])
            public = str(doc.get("metadata", {}).get("public", "false"))
        except (ValueError, KeyError, TypeError, AttributeError):
            return _error(400, "BAD_REQUEST", "invalid project request")
        if not _NAME.fullmatch(name):
            message = "project name is not in lower case or contains illegal characters"
            return _error(400, "BAD_REQUEST", message)
        if self.refuse_creation:
            return _error(403, "FORBIDDEN", "forbidden")
        with self._lock:
            exists = name in self.projects
            self.projects.setdefault(name, {"public": public, "proxy_cache": False})
        if exists or self.race_on_create:
            return _error(409, "CONFLICT", f"The project named {name} already exists")
        return 201, [("Location", f"/api/v2.0/projects/{len(self.projects)}")], b""

    def _registry(self, method: str, target: str, seen: SeenRequest, body: bytes) -> Answer:
        challenge = ("Www-Authenticate", 'Basic realm="harbor"')
        if self._user(seen.headers) is None:
            return _error(401, "UNAUTHORIZED", "unauthorized: authentication required", challenge)
        match = _REPO_PATH.match(seen.path)
        if match:
            project = match["project"]
            with self._lock:
                found = self.projects.get(project)
            if found is None:
                return _error(401, "UNAUTHORIZED", f"project {project} not found", challenge)
            if found["proxy_cache"] and method in _PUSH_METHODS:
                message = f"can not push artifact to a proxy project: {project}"
                return _error(403, "DENIED", message)
        return self._forward(method, target, seen, body)

    def _forward(self, method: str, target: str, seen: SeenRequest, body: bytes) -> Answer:
        out = {k: v for k, v in seen.headers.items() if k not in _HOP_BY_HOP}
        out.pop("content-length", None)
        out.pop("authorization", None)
        if body or method in ("POST", "PUT", "PATCH"):
            out["Content-Length"] = str(len(body))
        host, _, port = self.upstream.rpartition(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            conn.request(method, target, body=body or None, headers=out)
            resp = conn.getresponse()
            return resp.status, resp.getheaders(), resp.read()
        except OSError as exc:  # the registry behind is gone (the test is over)
            return _error(502, "BAD_GATEWAY", str(exc))
        finally:
            conn.close()

    def _route(self, method: str, target: str, seen: SeenRequest, body: bytes) -> Answer:
        if seen.path.startswith("/api/"):
            return self._api(method, target, seen, body)
        if seen.path.startswith("/v2/"):
            return self._registry(method, target, seen, body)
        return _error(404, "NOT_FOUND", "not found")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        harbor = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 30

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                headers = {k.lower(): v for k, v in self.headers.items()}
                body = _read_body(self)
                query = parse_qs(parts.query, keep_blank_values=True)
                seen = SeenRequest(self.command, parts.path, query, headers, time.time())
                with harbor._lock:
                    harbor._seen.append(seen)
                answer = harbor._route(self.command, self.path, seen, body)
                try:
                    self._send(*answer)
                except (BrokenPipeError, ConnectionResetError):  # the client went away
                    self.close_connection = True

            def _send(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
                self.send_response(status)
                has_length = False
                for k, v in headers:
                    lk = k.lower()
                    if lk in _HOP_BY_HOP or lk in ("date", "server"):
                        continue
                    if lk == "content-length":
                        if self.command != "HEAD":
                            continue
                        has_length = True
                    self.send_header(k, v)
                if self.command != "HEAD" or not has_length:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD" and status not in (204, 304):
                    self.wfile.write(data)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        return Handler
