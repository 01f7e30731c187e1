"""Config generations: each successful (re)load of the desired state, with
the registry client built for it. A cycle runs to its end on the generation
it started with; a retired generation's client closes when its last cycle
ends. An invalid config is rejected and the last good one stays current."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import structlog

from hangard.config.loader import LoadedConfig, load_config
from hangard.config.registries import client_options, credential_store
from hangard.config.trustfiles import TrustOptions
from hangard.daemon.metrics import Metrics
from hangard.errors import ConfigError
from hangard.registry.access import ResponseObserver
from hangard.registry.client import RegistryClient

__all__ = ["Generation", "Generations"]

log = structlog.get_logger("hangard.daemon")


@dataclass
class Generation:
    """One loaded config and the client built for it."""

    number: int
    config: LoadedConfig
    client: RegistryClient
    users: int = 0
    retired: bool = False

    async def _release(self) -> None:
        self.users -= 1
        await self._close_if_done()

    async def retire(self) -> None:
        self.retired = True
        await self._close_if_done()

    async def _close_if_done(self) -> None:
        if self.retired and self.users == 0:
            await self.client.aclose()


class Generations:
    """The current generation, and how the last (re)load went."""

    def __init__(
        self,
        config: Path,
        *,
        concurrency: int,
        metrics: Metrics,
        on_response: ResponseObserver | None = None,
        trust: TrustOptions | None = None,
    ) -> None:
        self.path = config
        self.trust = trust or TrustOptions()
        self.concurrency = concurrency
        self.metrics = metrics
        self.on_response = on_response
        self.current: Generation | None = None
        self.last_ok: bool | None = None
        self.last_errors: list[str] = []
        self._lock = asyncio.Lock()

    async def load(self, why: str = "start") -> bool:
        """Read the config again; True when it changed and became current.

        Raises :class:`~hangard.errors.ConfigError` when it is invalid; the
        current generation then stays.
        """
        async with self._lock:
            return await self._load(why)

    async def _load(self, why: str) -> bool:
        self.metrics.reload_time.set(time.time())
        try:
            loaded = await asyncio.to_thread(
                load_config, self.path, check_secrets=True, trust=self.trust
            )
            options = client_options(loaded, global_concurrency=self.concurrency)
            store = credential_store(loaded)
        except ConfigError as exc:
            self.last_ok = False
            self.last_errors = exc.problems or [exc.message]
            self.metrics.reload_ok.set(0)
            raise
        self.last_ok = True
        self.last_errors = []
        self.metrics.reload_ok.set(1)
        old = self.current
        if old is not None and old.config.source_text_digest == loaded.source_text_digest:
            log.info("config unchanged", trigger=why)
            return False
        client = RegistryClient(options, store, on_response=self.on_response)
        self.current = Generation((old.number + 1) if old else 1, loaded, client)
        if old is not None:
            await old.retire()
        log.info(
            "config loaded",
            path=str(loaded.path),
            generation=self.current.number,
            summary=loaded.summary(),
            trigger=why,
        )
        return True

    @asynccontextmanager
    async def use(self) -> AsyncIterator[Generation | None]:
        """The current generation, kept open until the block ends."""
        gen = self.current
        if gen is None:
            yield None
            return
        gen.users += 1
        try:
            yield gen
        finally:
            await gen._release()

    async def close(self) -> None:
        if self.current is not None:
            await self.current.retire()
