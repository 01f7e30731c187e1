"""``hangard run``: the long-lived service.

* One apscheduler job per distinct schedule (the default plus per-entry
  overrides), ``max_instances=1``, ``coalesce=True``, a small jitter; the
  first cycle of every job runs at start.
* A cycle is :func:`hangard.sync.compute_plan` + :func:`hangard.sync.execute`
  on the config *generation* it started with, so a reload never interrupts
  a copy in flight. A :class:`~hangard.sync.KeyLocks` shared by all jobs keeps
  two jobs from copying the same (image, tag, target) at once.
* Reload on SIGHUP and when the config or a list file changes. An invalid
  config is rejected with its errors logged; the last good one keeps running.
  A changed config cycles at once, or right after the job's running cycle.
* SIGTERM/SIGINT: stop scheduling, let cycles finish for ``shutdown_grace``
  seconds, then cancel them. Manifests go up only after their blobs, so a
  cancelled copy never leaves a tag pointing at missing content.
"""

from __future__ import annotations

import asyncio
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from hangard import __version__
from hangard.config.loader import LoadedConfig, load_desired_state
from hangard.config.registries import client_options, credential_store
from hangard.daemon.http import StatusServer
from hangard.daemon.jobs import schedule_triggers, watch_files
from hangard.daemon.metrics import Metrics
from hangard.daemon.notify import notify
from hangard.daemon.state import ItemState, StateStore
from hangard.errors import ConfigError, HangardError, Reason
from hangard.registry.client import RegistryClient
from hangard.settings import Settings
from hangard.sync import ItemOutcome, ItemResult, KeyLocks, SubsetCache, compute_plan, execute
from hangard.sync.execute import SyncReport, write_failed_list

__all__ = ["Daemon"]

log = structlog.get_logger("hangard.daemon")


@dataclass
class Generation:
    """One loaded config and the client built for it."""

    number: int
    config: LoadedConfig
    client: RegistryClient
    users: int = 0
    retired: bool = False

    async def release(self) -> None:
        self.users -= 1
        if self.retired and self.users == 0:
            await self.client.aclose()


@dataclass
class Daemon:
    settings: Settings
    metrics: Metrics = field(default_factory=Metrics)
    generation: Generation | None = None
    started_at: float = field(default_factory=time.time)
    reload_ok: bool | None = None
    reload_errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        state_dir = self.settings.state_dir
        self.state = StateStore.load(state_dir / "state.json")
        self.cache = SubsetCache.load(state_dir / "subset-cache.json")
        self.locks = KeyLocks()
        self.scheduler = AsyncIOScheduler()
        self.stop_event = asyncio.Event()
        self.inflight: set[asyncio.Task[object]] = set()
        self.pending_first: set[str] = set()
        self.first_cycle_done = asyncio.Event()
        self._reload_lock = asyncio.Lock()
        self._watch_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Future[bool]] = set()
        self._running: set[str] = set()  # schedules whose job is in a cycle
        self._rerun: set[str] = set()  # ... and should cycle once more after it
        for item in self.state.items.values():
            self._export(item)
        if self.state.items:
            self.metrics.desired.set(len(self.state.items))
        # "no good cycle for too long" counts from the last one we know of,
        # or from this start: a fresh daemon is not overdue
        self.metrics.last_good_cycle.set(self.state.last_good_cycle or self.started_at)

    # ------------------------------------------------------------------ health

    @property
    def healthy(self) -> bool:
        return self.scheduler.running and not self.stop_event.is_set()

    @property
    def ready(self) -> bool:
        return self.generation is not None and self.first_cycle_done.is_set()

    def status(self) -> dict[str, object]:
        gen = self.generation
        return {
            "version": __version__,
            "started_at": self.started_at,
            "config": str(gen.config.path) if gen else str(self.settings.config),
            "config_generation": gen.number if gen else None,
            "last_reload_successful": self.reload_ok,
            "last_reload_errors": self.reload_errors,
            "ready": self.ready,
            **self.state.status(),
        }

    # ------------------------------------------------------------------ run

    async def run(self) -> int:
        """Run until SIGTERM/SIGINT; return the exit code."""
        server = StatusServer(self, *self.settings.metrics_host_port)
        await server.start()
        loop = asyncio.get_running_loop()
        # before the first load, so a early SIGHUP or SIGTERM never kills us
        loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop_event.set)
        try:
            try:
                await self._load()
            except ConfigError as exc:
                for problem in exc.problems or [exc.message]:
                    log.error("invalid config", problem=problem)
                return 2
            if self.stop_event.is_set():
                return 0
            self.scheduler.start()
            self._schedule(run_now=True)
            if self.settings.watch_config:
                self._watch_task = asyncio.create_task(self._watch())
            notify(
                "READY=1",
                f"STATUS=watching {self.generation.config.summary() if self.generation else ''}",
            )
            log.info("hangard started", version=__version__, address=self.settings.metrics_address)
            await self.stop_event.wait()
            await self._shutdown()
            return 0
        finally:
            await server.stop()

    async def _shutdown(self) -> None:
        notify("STOPPING=1")
        log.info("stopping", grace=self.settings.shutdown_grace, inflight=len(self.inflight))
        # pause, not shutdown: apscheduler's AsyncIOExecutor.shutdown() cancels
        # running jobs at once, which would skip the grace period
        if self.scheduler.running:
            self.scheduler.pause()
        if self._watch_task is not None:
            self._watch_task.cancel()
        if self.inflight:
            _, pending = await asyncio.wait(
                set(self.inflight), timeout=self.settings.shutdown_grace
            )
            for task in pending:
                task.cancel()
            if pending:
                log.warning("abandoning copies after the grace period", count=len(pending))
                await asyncio.wait(pending, timeout=10)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self._save()
        if self.generation is not None:
            self.generation.retired = True
            if self.generation.users == 0:
                await self.generation.client.aclose()
        log.info("stopped")

    # ------------------------------------------------------------------ config

    def _on_sighup(self) -> None:
        if self.generation is None:  # still loading: that load reads the file anyway
            return
        task = asyncio.ensure_future(self.reload("SIGHUP"))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def reload(self, why: str) -> bool:
        """Load the config again; keep the old one when the new one is invalid."""
        async with self._reload_lock:
            notify("RELOADING=1")
            try:
                changed = await self._load(why=why)
            except ConfigError as exc:
                for problem in exc.problems or [exc.message]:
                    log.error(
                        "config reload rejected; keeping the last good config", problem=problem
                    )
                return False
            finally:
                notify("READY=1")
            if changed and self.scheduler.running:
                self._schedule(run_now=True)
            return True

    async def _load(self, *, why: str = "start") -> bool:
        now = time.time()
        self.metrics.reload_time.set(now)
        try:
            loaded = await asyncio.to_thread(
                load_desired_state, self.settings.config, check_secrets=True
            )
            options = client_options(loaded, global_concurrency=self.settings.concurrency)
            store = credential_store(loaded)
        except ConfigError as exc:
            self.reload_ok = False
            self.reload_errors = exc.problems or [exc.message]
            self.metrics.reload_ok.set(0)
            raise
        self.reload_ok = True
        self.reload_errors = []
        self.metrics.reload_ok.set(1)
        old = self.generation
        if old is not None and old.config.source_text_digest == loaded.source_text_digest:
            log.info("config unchanged", reason=why)
            return False
        client = RegistryClient(options, store, on_response=self._on_response)
        self.generation = Generation((old.number + 1) if old else 1, loaded, client)
        if old is not None:
            old.retired = True
            if old.users == 0:
                await old.client.aclose()
        log.info(
            "config loaded",
            path=str(loaded.path),
            generation=self.generation.number,
            summary=loaded.summary(),
            reason=why,
        )
        return True

    def _schedule(self, *, run_now: bool) -> None:
        """One job per distinct schedule of the current config."""
        assert self.generation is not None
        triggers = schedule_triggers(self.generation.config.state)
        for job in self.scheduler.get_jobs():
            job.remove()
        self.pending_first = set(triggers) if not self.first_cycle_done.is_set() else set()
        for text, trigger in triggers.items():
            when: dict[str, object] = {}
            if run_now and text in self._running:
                # apscheduler would skip a run while the last one goes on (and
                # the reload would wait for the next tick): the running job
                # cycles once more instead
                self._rerun.add(text)
            elif run_now:
                when["next_run_time"] = _now()
            self.scheduler.add_job(
                self._job,
                trigger,
                args=[text],
                id=f"sync:{text}",
                name=f"sync every {text}",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
                replace_existing=True,
                **when,
            )

    async def _watch(self) -> None:
        """Reload when the config file or a list file it reads changes."""

        def files() -> list[Path]:
            return self.generation.config.files if self.generation else []

        await watch_files(files, lambda: self.reload("file changed"), self.stop_event)

    # ------------------------------------------------------------------ cycles

    async def _job(self, schedule: str) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.inflight.add(task)
        self._running.add(schedule)
        try:
            await self.cycle(frozenset({schedule}))
            while schedule in self._rerun and not self.stop_event.is_set():
                self._rerun.discard(schedule)
                await self.cycle(frozenset({schedule}))
        finally:
            self._running.discard(schedule)
            self._rerun.discard(schedule)
            self.inflight.discard(task)
            self.pending_first.discard(schedule)
            if not self.pending_first:
                self.first_cycle_done.set()

    async def cycle(self, schedules: frozenset[str] | None = None) -> bool:
        """Plan and execute once on the current generation; True when clean."""
        gen = self.generation
        if gen is None:
            return False
        gen.users += 1
        started = time.monotonic()
        ok = False
        try:
            client = gen.client
            plan, items, errors = await compute_plan(
                client, gen.config.state, cache=self.cache, only=schedules
            )
            if schedules is None or schedules >= self._all_schedules(gen):
                self.state.keep_only([i.key for i in items] + [e.key for e in errors])
                self.metrics.forget_items(self.state.items)
            for action in plan.actions:
                self._export(self.state.observed(action))
            self.metrics.desired.set(len(self.state.items))
            report = await execute(
                client,
                plan,
                concurrency=self.settings.concurrency,
                locks=self.locks,
                on_result=self._on_result,
                cache=self.cache,
            )
            for registry, remaining in client.ratelimit_remaining.items():
                self.metrics.ratelimit_remaining.labels(registry=registry).set(remaining)
            ok = report.ok
            self._write_failed(report)
            log.info(
                "cycle finished", summary=report.summary_line(), schedules=sorted(schedules or [])
            )
        except HangardError as exc:
            log.error("cycle failed", error=str(exc))
        except asyncio.CancelledError:
            log.warning("cycle cancelled")
            raise
        finally:
            duration = time.monotonic() - started
            self.metrics.cycle_duration.observe(duration)
            self.metrics.cycles.labels(result="success" if ok else "failure").inc()
            if ok:
                self.state.last_good_cycle = time.time()
                self.metrics.last_good_cycle.set(self.state.last_good_cycle)
            self._save()
            await gen.release()
        return ok

    @staticmethod
    def _all_schedules(gen: Generation) -> frozenset[str]:
        state = gen.config.state
        return frozenset(
            {state.defaults.schedule} | {e.schedule for e in state.images if e.schedule}
        )

    def _on_result(self, result: ItemResult) -> None:
        item = self.state.finished(result)
        self._export(item)
        action = result.action
        if result.outcome is ItemOutcome.FAILED:
            self.metrics.count_failure(
                action.item.image, action.item.target, result.reason or Reason.OTHER
            )
        copy = result.copy
        if copy is not None and result.outcome is ItemOutcome.COPIED:
            registry = copy.target.split("/", 1)[0]
            self.metrics.bytes_copied.labels(target_registry=registry).inc(copy.bytes_moved)
            self.metrics.blobs.labels(result="copied").inc(copy.blobs_copied)
            self.metrics.blobs.labels(result="mounted").inc(copy.blobs_mounted)
            self.metrics.blobs.labels(result="present").inc(copy.blobs_present)

    def _on_response(self, registry: str, method: str, status: int) -> None:
        self.metrics.requests.labels(registry=registry, method=method, code=str(status)).inc()

    def _export(self, item: ItemState) -> None:
        self.metrics.set_item_state(
            item.key,
            in_sync=item.in_sync,
            drift=item.drift,
            missing=item.missing,
            last_success=item.last_success,
            consecutive_failures=item.consecutive_failures,
        )

    def _save(self) -> None:
        try:
            self.state.save()
            self.cache.save()
        except OSError as exc:
            log.error("could not write state", dir=str(self.settings.state_dir), error=str(exc))

    def _write_failed(self, report: SyncReport) -> None:
        try:
            write_failed_list(self.settings.failed_path, report)
        except OSError as exc:
            log.warning("could not write the failed list", error=str(exc))


def _now() -> object:
    from datetime import UTC, datetime

    return datetime.now(UTC)
