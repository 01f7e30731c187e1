"""A hostile source registry whose one layer never ends.

A fake, because no real ``docker-registry`` can do it: distribution always
sends a blob's ``Content-Length`` and stops at the blob's end. This one serves
``/v2/``, an unsigned schema1 manifest (whose layers have no declared size)
as ``<any repo>:<any tag>``, and that manifest's layer as a chunked
(``Transfer-Encoding: chunked``) body without ``Content-Length``: valid gzip
(stored blocks, so every byte sent is a byte to upload) that goes on until
the client hangs up or ``limit`` bytes are sent.

* :class:`EndlessLayerRegistry` - ``start()``, ``stop()``, ``host``,
  ``layer_digest`` (what the manifest names; the body never hashes to it),
  ``sent`` (layer bytes written so far).
"""

from __future__ import annotations

import json
import re
import threading
import zlib
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.harness.threaded import BackgroundServer

SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
LAYER_DIGEST = "sha256:" + "5e" * 32
_MANIFEST = re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<ref>[^/]+)$")
_BLOB = re.compile(r"^/v2/.+/blobs/(?P<digest>[^/]+)$")
_PIECE = bytes(64 * 1024)


def schema1_manifest(name: str, tag: str) -> bytes:
    compat = {"id": "1" * 64, "created": "2024-01-02T03:04:05Z", "os": "linux"}
    doc = {
        "schemaVersion": 1,
        "name": name,
        "tag": tag,
        "architecture": "amd64",
        "fsLayers": [{"blobSum": LAYER_DIGEST}],
        "history": [{"v1Compatibility": json.dumps(compat)}],
    }
    return json.dumps(doc, indent=3).encode()


class EndlessLayerRegistry:
    """The fake registry (see the module docstring)."""

    def __init__(self, limit: int = 1 << 30) -> None:
        self.limit = limit
        self.layer_digest = LAYER_DIGEST
        self.sent = 0
        self._lock = threading.Lock()
        self._background: BackgroundServer | None = None

    def start(self) -> EndlessLayerRegistry:
        self._background = BackgroundServer(self._handler(), name="endless-layer")
        return self

    def stop(self) -> None:
        if self._background is not None:
            self._background.stop()
            self._background = None

    @property
    def host(self) -> str:
        assert self._background is not None
        return f"127.0.0.1:{self._background.port}"

    def _count(self, n: int) -> None:
        with self._lock:
            self.sent += n

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/v2/":
                    return self._reply(200, b"{}", "application/json")
                manifest = _MANIFEST.match(path)
                if manifest:
                    body = schema1_manifest(manifest["name"], manifest["ref"])
                    return self._reply(200, body, SCHEMA1)
                blob = _BLOB.match(path)
                if blob and blob["digest"] == LAYER_DIGEST and self.command == "GET":
                    return self._endless()
                return self._reply(404, b'{"errors":[{"code":"BLOB_UNKNOWN"}]}', "application/json")

            do_HEAD = do_GET

            def _endless(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                gzip = zlib.compressobj(0, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
                try:
                    while fake.sent < fake.limit:
                        data = gzip.compress(_PIECE) or gzip.flush(zlib.Z_SYNC_FLUSH)
                        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                        fake._count(len(data))
                    self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True

        return Handler
