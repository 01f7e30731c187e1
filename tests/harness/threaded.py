"""A small HTTP server on loopback, serving in a daemon thread: the plumbing
under the token server, the fault proxy and the hostile registry."""

from __future__ import annotations

import socketserver
import ssl
import threading
from http.server import ThreadingHTTPServer


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class BackgroundServer:
    """Binds ``host`` (127.0.0.1 unless told; any 127.x.y.z is loopback on
    Linux) on a free port at once and serves until :meth:`stop`."""

    def __init__(
        self,
        handler: type[socketserver.BaseRequestHandler],
        *,
        name: str,
        ssl_context: ssl.SSLContext | None = None,
        server_class: type[socketserver.TCPServer] = _Server,
        host: str = "127.0.0.1",
    ) -> None:
        """``server_class``: an HTTP server by default; a plain
        ``ThreadingTCPServer`` subclass serves raw TCP handlers."""
        self.server = server_class((host, 0), handler)
        if ssl_context is not None:
            self.server.socket = ssl_context.wrap_socket(self.server.socket, server_side=True)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{name}-{self.port}",
            daemon=True,
        )
        self.thread.start()

    def stop(self) -> None:
        """Shut the server down and join its thread."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
