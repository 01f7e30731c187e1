"""The file watcher (:mod:`hangard.daemon.watch`): it reacts to the config
and the list files it reads, and to nothing else in their directories."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from hangard.daemon.watch import watch_files
from hangard.log import configure_logging


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def debug_logging() -> Iterator[_Records]:
    """hangard's logging at debug level, with watchfiles' records captured."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure_logging("debug", "json")
    records = _Records()
    watchfiles = logging.getLogger("watchfiles")
    watchfiles.addHandler(records)
    try:
        yield records
    finally:
        watchfiles.removeHandler(records)
        root.handlers[:], level = saved
        root.setLevel(level)
        for name in ("watchfiles", "apscheduler", "httpx", "aiohttp"):
            logging.getLogger(name).setLevel(logging.NOTSET)


async def test_a_log_file_beside_the_config_wakes_nothing_and_logs_nothing(
    tmp_path: Path, debug_logging: _Records
) -> None:
    config = tmp_path / "hangard.yaml"
    config.write_text("version: 1\n")
    noisy = tmp_path / "hangard.log"
    stop = asyncio.Event()
    changed: list[int] = []

    async def on_change() -> None:
        changed.append(1)
        stop.set()

    watcher = asyncio.create_task(watch_files(lambda: [config], on_change, stop))
    for n in range(15):  # a log file written every 0.1 s
        noisy.write_text(f"line {n}\n" * (n + 1))
        await asyncio.sleep(0.1)
    assert changed == []
    assert not [r for r in debug_logging.records if "change" in r.getMessage()]
    config.write_text("version: 1\n# edited\n")
    await asyncio.wait_for(watcher, timeout=10)
    assert changed == [1]
    assert not [r for r in debug_logging.records if r.levelno < logging.WARNING]
