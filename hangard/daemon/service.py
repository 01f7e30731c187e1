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
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import structlog

from hangard import __version__
from hangard.config.trustfiles import TrustOptions
from hangard.core.timestamps import rfc3339
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
from hangard.sync import (
    DigestCache,
    KeyLocks,
    OwnershipStore,
    Pruning,
    Save,
    Scope,
    persist,
    run_cycle,
)
from hangard.sync.ownership import OWNERSHIP_FILE

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
        self._owners: OwnershipStore | None = None
        self.locks = KeyLocks()
        self.stop_event = asyncio.Event()
        self.generations = Generations(
            settings.config,
            concurrency=settings.concurrency,
            metrics=self.metrics,
            on_response=self._on_response,
            trust=TrustOptions(settings.policy, settings.insecure_policy),
        )
        self.jobs = CycleScheduler(self.cycle, self.stop_event)
        self._background: set[asyncio.Future[bool]] = set()
        shard = settings.shard
        if shard is not None:
            self.metrics.shard_info.labels(shard=str(shard.index), shards=str(shard.count)).set(1)
            # a restart on another shard: what it owned before is not ours
            self.history.keep_only(
                key
                for key, item in self.history.items.items()
                if shard.owns(item.image, item.target)
            )
        for item in self.history.items.values():
            export_item(self.metrics, self.history, item)
        self.metrics.items_owned.set(len(self.history.items))
        if self.history.items:
            self.metrics.desired.set(len(self.history.items))
        # the schedules (and their "last good cycle") are known once the
        # config is loaded: see _export_schedules

    # ------------------------------------------------------------------ health

    @property
    def healthy(self) -> bool:
        return self.jobs.running and not self.stop_event.is_set()

    @property
    def ready(self) -> bool:
        return self.generations.current is not None and self.jobs.first_cycle_done.is_set()

    def status(self) -> dict[str, object]:
        """``/status``: the daemon, each configured schedule, each item.
        Times are epoch seconds, each with a ``*_rfc3339`` twin."""
        gen = self.generations.current
        next_runs = self.jobs.next_runs()
        schedules = sorted(gen.config.state.schedules) if gen else []
        return {
            "version": __version__,
            "started_at": self.started_at,
            "started_at_rfc3339": rfc3339(self.started_at),
            "config": str(gen.config.path) if gen else str(self.settings.config),
            "config_generation": gen.number if gen else None,
            "last_reload_successful": self.generations.last_ok,
            "last_reload_errors": self.generations.last_errors,
            "ready": self.ready,
            "schedules": [
                self.history.schedule_status(
                    s, next_run=next_runs.get(s), running=self.jobs.is_cycling(s)
                )
                for s in schedules
            ],
            "shard": self._shard_status(),
            **self.history.status(),
        }

    def _shard_status(self) -> dict[str, object] | None:
        """Which shard answers, and how many items it owns (``None``:
        unsharded)."""
        shard = self.settings.shard
        if shard is None:
            return None
        return {
            "shard": str(shard),
            "index": shard.index,
            "count": shard.count,
            "items_owned": len(self.history.items),
        }

    # ------------------------------------------------------------------ run

    async def run(self) -> int:
        """Run until SIGTERM/SIGINT; return the exit code (2: it could not
        start, the reason logged in one line)."""
        problem = self._unwritable_state_dir()
        if problem:
            log.error("state directory is not writable", **problem)
            return 2
        server = StatusServer(self, *self.settings.metrics_host_port)
        try:
            await server.start()
        except OSError as exc:
            await server.stop()
            log.error(
                "cannot listen on the metrics address",
                address=self.settings.metrics_address,
                error=exc.strerror or str(exc),
            )
            return 2
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
        self._export_schedules(gen.config.state.schedules)
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
        if self._owners is not None:
            self._owners.close()
        await self.generations.close()
        log.info("stopped")
        return 0

    def _unwritable_state_dir(self) -> dict[str, str] | None:
        """Why the state dir cannot hold our files, or ``None`` when it can.

        Checked at start so that a daemon that could never save its state
        refuses to run instead of reporting ready and failing every cycle.
        """
        path = self.settings.state_dir
        try:
            path.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path, prefix=".hangard-probe."):
                pass
        except OSError as exc:
            return {"path": str(path), "error": exc.strerror or str(exc)}
        return None

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
            self._export_schedules(gen.config.state.schedules)
            self.jobs.schedule(gen.config.state.schedules, run_now=True)
        return True

    def _export_schedules(self, schedules: Iterable[str]) -> None:
        """One "last good cycle" series per configured schedule. "No good
        cycle for too long" counts from the last one the state file knows
        of, or from this start: a fresh daemon (or schedule) is not overdue."""
        known = self.history.last_good_cycles
        self.metrics.set_schedules({s: known.get(s, self.started_at) for s in schedules})

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
                schedules=desired.schedules if schedules is None else schedules,
                failed_path=self.settings.failed_path,
                targets={  # an archive target's failures have no list line
                    name: t.registry
                    for name, t in desired.targets.items()
                    if t.registry is not None
                },
            )
            timeout = self.settings.cycle_timeout
            deadline = recorder.deadline = asyncio.timeout(timeout)
            try:
                async with deadline:
                    done = await run_cycle(
                        gen.client,
                        desired,
                        cache=self.cache,
                        failed_path=None,  # the recorder writes it, from the history
                        hooks=recorder,
                        concurrency=self.settings.concurrency,
                        locks=self.locks,
                        scope=Scope(schedules, self.settings.shard),
                        pruning=self.pruning(),
                    )
            except TimeoutError:
                if not deadline.expired():
                    raise
                # cancelled like a shutdown: what finished is recorded and
                # saved, the copies it cut short are failures (reason
                # timeout), and the rest is for the next cycle
                for schedule in recorder.schedules:
                    self.metrics.cycle_timeouts.labels(schedule=schedule).inc()
                log.error(
                    "cycle timed out",
                    schedules=sorted(recorder.schedules),
                    timeout=timeout,
                    hint="raise HANGARD_CYCLE_TIMEOUT, or split the entries over schedules",
                )
                return False
            except HangardError as exc:
                log.error("cycle failed", error=str(exc))
                return False
            except asyncio.CancelledError:
                log.warning("cycle cancelled")
                raise
            recorder.registries(gen.client)  # run_cycle logged the summary
            return done.ok

    def pruning(self) -> Pruning | None:
        """The ownership store (opened on first use) and whether to prune
        (``--no-prune``); ``None``, logged, when the store cannot be used:
        then nothing is pruned, and what is written is not recorded."""
        if self._owners is None:
            path = self.settings.state_dir / OWNERSHIP_FILE
            try:
                self._owners = OwnershipStore.open(path)
            except HangardError as exc:
                log.error("ownership store unusable; nothing is pruned", error=str(exc))
                return None
        return Pruning(self._owners, enabled=self.settings.prune)

    def _on_response(self, registry: str, method: str, status: int, seconds: float) -> None:
        self.metrics.count_response(registry, method, status, seconds)

    def _save(self) -> None:
        persist(
            [
                Save("item history", self.history.path, self.history.save),
                Save("digest cache", self.cache.path, self.cache.save),
            ]
        )
