"""structlog setup: JSON lines when stderr is not a TTY (journald, Loki),
console rendering when it is. Standard-library logging (apscheduler, httpx,
aiohttp) goes through the same processors, so the JSON stream stays JSON.
Secrets never reach a log line: registry credentials are not bound to
loggers, and :func:`drop_secrets` scrubs Authorization-like keys defensively."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, MutableMapping
from typing import Any, Literal

if "structlog" not in sys.modules and "rich" not in sys.modules:
    # structlog imports rich (and pygments) for pretty tracebacks whenever
    # rich is installed: a tenth of a second of every start. hangard never
    # lets it use them (format_exc_info renders exceptions before the
    # renderer sees them), so rich is hidden while structlog loads: a None in
    # sys.modules makes ``import rich`` fail. rich stays importable after.
    sys.modules["rich"] = None  # type: ignore[assignment]
    try:
        import structlog
    finally:
        del sys.modules["rich"]
import structlog

__all__ = ["configure_logging", "drop_secrets", "set_log_sink"]

_SECRET_KEYS = {"authorization", "password", "token", "secret", "identity_token"}
# chatty libraries: their INFO lines ("Running job …") are noise for operators
# (watchfiles: "N changes detected" on every change it sees)
_QUIET = {
    "apscheduler": logging.WARNING,
    "httpx": logging.WARNING,
    "aiohttp": logging.WARNING,
    "watchfiles": logging.WARNING,
}

LogFormat = Literal["auto", "json", "console"]


def drop_secrets(
    _logger: Any, _name: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in list(event):
        if key.lower() in _SECRET_KEYS:
            event[key] = "***"
    return event


class _Stderr:
    """Where log lines go: ``sys.stderr`` as it is at each write, or the
    :attr:`sink` a live progress display (:mod:`hangard.cli.display`) sets
    while it runs, which prints each line whole above itself."""

    sink: Callable[[str], None] | None = None

    def write(self, text: str) -> int:
        if self.sink is not None:
            self.sink(text)
            return len(text)
        return sys.stderr.write(text)

    def flush(self) -> None:
        if self.sink is None:
            sys.stderr.flush()


_STDERR = _Stderr()


def set_log_sink(sink: Callable[[str], None] | None) -> None:
    """Send log lines (each ``write`` is whole lines) to ``sink`` instead of
    stderr; ``None`` restores stderr."""
    _STDERR.sink = sink


def configure_logging(level: str = "info", fmt: LogFormat = "auto") -> None:
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        drop_secrets,
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=_STDERR),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(_STDERR)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    for name, quiet in _QUIET.items():
        logging.getLogger(name).setLevel(max(quiet, numeric))
