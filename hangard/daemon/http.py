"""The daemon's one HTTP listener: ``/`` (an index of the others),
``/metrics``, ``/healthz``, ``/readyz``, ``/status``. No secrets are ever
part of a reply."""

from __future__ import annotations

from typing import Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from hangard.daemon.metrics import Metrics

__all__ = ["ENDPOINTS", "StatusServer", "StatusSource"]

#: what ``/`` lists: each endpoint and what it answers
ENDPOINTS = {
    "/metrics": "Prometheus metrics (text exposition format)",
    "/healthz": "200 while the daemon runs and its scheduler is alive, else 503",
    "/readyz": "200 once the config is loaded and the first cycle is done, else 503",
    "/status": "JSON: the daemon, each schedule's last cycle and next run, each item",
}


class StatusSource(Protocol):
    """What the endpoints read (the daemon)."""

    @property
    def healthy(self) -> bool: ...
    @property
    def ready(self) -> bool: ...
    @property
    def metrics(self) -> Metrics: ...
    def status(self) -> dict[str, object]: ...


class StatusServer:
    def __init__(self, daemon: StatusSource, host: str, port: int) -> None:
        self.daemon = daemon
        self.host = host
        self.port = port
        app = web.Application()
        app.router.add_get("/", self._index)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/status", self._status)
        self._runner = web.AppRunner(app, access_log=None)

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()

    async def stop(self) -> None:
        await self._runner.cleanup()

    async def _index(self, _request: web.Request) -> web.Response:
        return web.json_response({"service": "hangard", "endpoints": ENDPOINTS})

    async def _metrics(self, _request: web.Request) -> web.Response:
        body = self.daemon.metrics.render()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, _request: web.Request) -> web.Response:
        ok = self.daemon.healthy
        return web.json_response({"ok": ok}, status=200 if ok else 503)

    async def _readyz(self, _request: web.Request) -> web.Response:
        ok = self.daemon.ready
        return web.json_response({"ready": ok}, status=200 if ok else 503)

    async def _status(self, _request: web.Request) -> web.Response:
        return web.json_response(self.daemon.status())
