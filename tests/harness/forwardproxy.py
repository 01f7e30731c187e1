"""An HTTP forward proxy on 127.0.0.1, the squid of the tests.

* ``CONNECT host:port`` opens a tunnel (how clients reach https URLs through
  a proxy: TLS runs end to end inside it);
* an absolute-form request (``GET http://host:port/path``) is passed on to
  ``host:port`` with the rest of the connection (registry 2.8, like every Go
  server, accepts absolute-form request targets).

Every host name resolves to 127.0.0.1 here, whatever it is: a test can name
registries ``src.test:PORT`` that nothing but the proxy can reach, which
proves the client really went through it. With ``credentials`` set, requests
without the matching ``Proxy-Authorization: Basic`` get 407.

:attr:`ForwardProxy.seen` records ``(method, target)`` of each connection's
first request (a tunnel or forwarded connection carries more requests).
"""

from __future__ import annotations

import base64
import select
import socket
import socketserver
import threading

from tests.harness.threaded import BackgroundServer


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    proxy: ForwardProxy


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        client: socket.socket = self.request
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(65536)
            if not chunk:
                return
            head += chunk
        request_line, _, _ = head.partition(b"\r\n")
        method, target, _ = request_line.decode("latin-1").split(" ", 2)
        proxy = self.server.proxy
        if not proxy.authorized(head):
            client.sendall(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                b'Proxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n'
            )
            return
        with proxy.lock:
            proxy.seen.append((method, target))
        if method == "CONNECT":
            port = int(target.rsplit(":", 1)[1])
            upstream = socket.create_connection(("127.0.0.1", port))
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            authority = target.split("://", 1)[1].split("/", 1)[0]
            port = int(authority.rsplit(":", 1)[1]) if ":" in authority else 80
            upstream = socket.create_connection(("127.0.0.1", port))
            upstream.sendall(head)
        with upstream:
            _pipe(client, upstream)


def _pipe(a: socket.socket, b: socket.socket) -> None:
    while True:
        ready, _, _ = select.select([a, b], [], [], 30)
        if not ready:
            return
        for sock in ready:
            data = sock.recv(1 << 20)
            if not data:
                return
            (b if sock is a else a).sendall(data)


class ForwardProxy:
    """Serves in a daemon thread from construction until :meth:`stop`."""

    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        self.seen: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self._expected = (
            b"proxy-authorization: basic "
            + base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).lower()
            if credentials
            else None
        )
        self._background = BackgroundServer(_Handler, name="forward-proxy", server_class=_Server)
        server: _Server = self._background.server  # type: ignore[assignment]
        server.proxy = self
        self.port = self._background.port
        self.url = f"http://127.0.0.1:{self.port}"

    def authorized(self, head: bytes) -> bool:
        return self._expected is None or self._expected in head.lower()

    def stop(self) -> None:
        self._background.stop()
