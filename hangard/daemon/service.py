"""``hangard run``: the service's lifecycle, wiring the parts together.

* :mod:`~hangard.daemon.generations` loads the config; a cycle runs on the
  generation it started with, so a reload never interrupts a copy in flight.
* :mod:`~hangard.daemon.scheduler` runs one job per distinct schedule; a
  :class:`~hangard.sync.KeyLocks` shared by all jobs keeps two jobs from
  copying the same (image, tag, target) at once.
* Each cycle is :func:`hangard.sync.run_cycle` with a
  :class:`~hangard.daemon.recorder.Recorder`, which keeps the item history (``state.json``)
  and the metrics.
* Reload on SIGHUP and when the config or a list file changes
  (:mod:`~hangard.daemon.watch`). An invalid config is rejected with its
  errors logged; the last good one keeps running.
* SIGTERM/SIGINT: stop scheduling, let cycles finish for ``shutdown_grace``
  seconds, then cancel them. Manifests go up only after their blobs, so a
  cancelled copy never leaves a tag pointing at missing content.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import structlog

from hangard import __version__
from hangard.daemon.generations import Generations
from hangard.daemon.history import History
from hangard.daemon.http import StatusServer
from hangard.daemon.metrics import Metrics
from hangard.daemon.notify import notify
from hangard.daemon.recorder import Recorder, export_item
from hangard.daemon.scheduler import CycleScheduler
from hangard.daemon.watch import watch_files
from hangard.errors import ConfigError, HangardError
from hangard.settings import Settings
from hangard.sync import DigestCache, KeyLocks, Save, persist, run_cycle

__all__ = ["Daemon"]

log = structlog.get_logger("hangard.daemon")


class Daemon:
    """The service. :meth:`run` until SIGTERM; the HTTP endpoints read
    :attr:`healthy`, :attr:`ready`, :meth:`status` and :attr:`metrics`."""

    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.started_at = time.time()
        state_dir = settings.state_dir
        self.history = History.load(state_dir / "state.json")
        self.cache = DigestCache.load(state_dir / "subset-cache.json")
        self.locks = KeyLocks()
        self.stop_event = asyncio.Event()
        self.generations = Generations(
            settings.config,
            concurrency=settings.concurrency,
            metrics=self.metrics,
            on_response=self._on_response,
        )
        self.jobs = CycleScheduler(self.cycle, self.stop_event)
        self._background: set[asyncio.Future[bool]] = set()
        for item in self.history.items.values():
            export_item(self.metrics, item)
        if self.history.items:
            self.metrics.desired.set(len(self.history.items))
        # "no good cycle for too long" counts from the last one we know of,
        # or from this start: a fresh daemon is not overdue
        self.metrics.last_good_cycle.set(self.history.last_good_cycle or self.started_at)

    # ------------------------------------------------------------------ health

    @property
    def healthy(self) -> bool:
        return self.jobs.running and not self.stop_event.is_set()

    @property
    def ready(self) -> bool:
        return self.generations.current is not None and self.jobs.first_cycle_done.is_set()

    def status(self) -> dict[str, object]:
        gen = self.generations.current
        return {
            "version": __version__,
            "started_at": self.started_at,
            "config": str(gen.config.path) if gen else str(self.settings.config),
            "config_generation": gen.number if gen else None,
            "last_reload_successful": self.generations.last_ok,
            "last_reload_errors": self.generations.last_errors,
            "ready": self.ready,
            **self.history.status(),
        }

    # ------------------------------------------------------------------ run

    async def run(self) -> int:
        """Run until SIGTERM/SIGINT; return the exit code."""
        server = StatusServer(self, *self.settings.metrics_host_port)
        await server.start()
        loop = asyncio.get_running_loop()
        # before the first load, so an early SIGHUP or SIGTERM never kills us
        loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop_event.set)
        try:
            return await self._serve()
        finally:
            await server.stop()

    async def _serve(self) -> int:
        try:
            await self.generations.load()
        except ConfigError as exc:
            for problem in exc.problems or [exc.message]:
                log.error("invalid config", problem=problem)
            return 2
        if self.stop_event.is_set():
            return 0
        gen = self.generations.current
        assert gen is not None
        self.jobs.start()
        self.jobs.schedule(gen.config.state.schedules, run_now=True)
        watcher = None
        if self.settings.watch_config:
            watcher = asyncio.create_task(self._watch())
        notify("READY=1", f"STATUS=watching {gen.config.summary()}")
        log.info("hangard started", version=__version__, address=self.settings.metrics_address)
        await self.stop_event.wait()
        notify("STOPPING=1")
        log.info("stopping", grace=self.settings.shutdown_grace, inflight=len(self.jobs.inflight))
        if watcher is not None:
            watcher.cancel()
        await self.jobs.drain(self.settings.shutdown_grace)
        self._save()
        await self.generations.close()
        log.info("stopped")
        return 0

    # ------------------------------------------------------------------ config

    def _on_sighup(self) -> None:
        if self.generations.current is None:  # still loading: that load reads the file anyway
            return
        task = asyncio.ensure_future(self.reload("SIGHUP"))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def reload(self, why: str) -> bool:
        """Load the config again; keep the old one when the new one is invalid."""
        notify("RELOADING=1")
        try:
            changed = await self.generations.load(why)
        except ConfigError as exc:
            for problem in exc.problems or [exc.message]:
                log.error("config reload rejected; keeping the last good config", problem=problem)
            return False
        finally:
            notify("READY=1")
        gen = self.generations.current
        if changed and gen is not None and self.jobs.running:
            self.jobs.schedule(gen.config.state.schedules, run_now=True)
        return True

    async def _watch(self) -> None:
        """Reload when the config file or a list file it reads changes."""

        def files() -> list[Path]:
            gen = self.generations.current
            return gen.config.files if gen else []

        await watch_files(files, lambda: self.reload("file changed"), self.stop_event)

    # ------------------------------------------------------------------ cycles

    async def cycle(self, schedules: frozenset[str] | None = None) -> bool:
        """Plan and execute once on the current generation; True when clean."""
        async with self.generations.use() as gen:
            if gen is None:
                return False
            desired = gen.config.state
            recorder = Recorder(
                self.history,
                self.metrics,
                complete=schedules is None or schedules >= desired.schedules,
            )
            try:
                done = await run_cycle(
                    gen.client,
                    desired,
                    cache=self.cache,
                    failed_path=self.settings.failed_path,
                    hooks=recorder,
                    concurrency=self.settings.concurrency,
                    locks=self.locks,
                    only=schedules,
                )
            except HangardError as exc:
                log.error("cycle failed", error=str(exc))
                return False
            except asyncio.CancelledError:
                log.warning("cycle cancelled")
                raise
            recorder.registries(gen.client)
            log.info(
                "cycle finished",
                summary=done.report.summary_line(),
                schedules=sorted(schedules or []),
            )
            return done.report.ok

    def _on_response(self, registry: str, method: str, status: int) -> None:
        self.metrics.requests.labels(registry=registry, method=method, code=str(status)).inc()

    def _save(self) -> None:
        persist(
            [
                Save("item history", self.history.path, self.history.save),
                Save("digest cache", self.cache.path, self.cache.save),
            ]
        )
