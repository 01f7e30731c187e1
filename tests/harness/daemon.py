"""``hangard run`` as a real subprocess, for the daemon tests.

:class:`HangardDaemon` starts ``python -m hangard run`` with its own config
file, state dir and a free loopback port for ``/metrics``, in an environment
cut off from the developer's credentials (``HOME``, ``DOCKER_CONFIG``,
``REGISTRY_AUTH_FILE`` and ``XDG_*`` point at empty files under the work dir;
no inherited ``HANGARD_*`` or ``NOTIFY_SOCKET``). Logs are JSON lines
(``HANGARD_LOG_FORMAT=json``), appended to ``log_path`` across restarts.

Nothing here sleeps for a fixed time to synchronise: :func:`wait_until` polls
a predicate with a deadline, and :meth:`HangardDaemon.start` polls
``/healthz``. :func:`daemons` makes daemons and kills every one of them when
it exits, also when a test fails (the ``make_daemon`` fixture of
``tests/test_daemon.py`` wraps it).

* :func:`wait_until` - poll ``predicate()`` until truthy, with a deadline;
* :class:`MetricsSnapshot` - one ``/metrics`` scrape parsed with
  ``prometheus_client.parser``; ``value(name, **labels)`` by sample name
  (counters end in ``_total``);
* :class:`NotifySocket` - a ``NOTIFY_SOCKET`` datagram listener that records
  every ``sd_notify`` message.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.harness.authfile import AuthFiles, isolated_env
from tests.harness.registry import _die_with_parent, free_port

T = TypeVar("T")

START_TIMEOUT = 20.0
STOP_TIMEOUT = 15.0


def wait_until(
    predicate: Callable[[], T],
    timeout: float = 20.0,
    *,
    interval: float = 0.05,
    message: str = "condition",
) -> T:
    """Call ``predicate`` until it returns something truthy; return that.

    Raises :class:`TimeoutError` naming ``message`` and the last value seen.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{message}: not true after {timeout}s (last: {value!r})")
        time.sleep(interval)


@dataclass(frozen=True)
class MetricsSnapshot:
    """One parsed ``/metrics`` scrape."""

    text: str
    samples: tuple[tuple[str, dict[str, str], float], ...]

    @classmethod
    def parse(cls, text: str) -> MetricsSnapshot:
        samples = tuple(
            (s.name, dict(s.labels), float(s.value))
            for family in text_string_to_metric_families(text)
            for s in family.samples
        )
        return cls(text, samples)

    def series(self, name: str, **labels: str) -> list[tuple[dict[str, str], float]]:
        """Every sample named ``name`` whose labels include ``labels``."""
        return [
            (lbl, value)
            for n, lbl, value in self.samples
            if n == name and all(lbl.get(k) == v for k, v in labels.items())
        ]

    def value(self, name: str, **labels: str) -> float | None:
        """The one sample matching, ``None`` when there is none."""
        found = self.series(name, **labels)
        if len(found) > 1:
            raise AssertionError(f"{len(found)} series match {name} {labels}: {found}")
        return found[0][1] if found else None

    def total(self, name: str, **labels: str) -> float:
        """Sum of the matching samples (0 when none)."""
        return sum(v for _, v in self.series(name, **labels))


@dataclass(eq=False)
class HangardDaemon:
    """A ``hangard run`` process; ``start()`` it, it is killed by the fixture."""

    workdir: Path
    config: Path
    args: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    watch: bool = True
    shutdown_grace: float | None = None
    log_level: str = "info"
    state_dir: Path = field(init=False)
    log_path: Path = field(init=False)
    port: int = field(default=0, init=False)
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _base_env: dict[str, str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.state_dir = self.workdir / "state"
        self.log_path = self.workdir / "hangard.log"
        self._base_env = isolated_env(AuthFiles.create(self.workdir / "env"))

    # ------------------------------------------------------------ lifecycle
    @property
    def command(self) -> list[str]:
        cmd = [
            sys.executable,
            "-m",
            "hangard",
            "run",
            "--config",
            str(self.config),
            "--state-dir",
            str(self.state_dir),
            "--metrics-address",
            f"127.0.0.1:{self.port}",
        ]
        if not self.watch:
            cmd.append("--no-watch")
        if self.shutdown_grace is not None:
            cmd += ["--shutdown-grace", str(self.shutdown_grace)]
        return cmd + list(self.args)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = START_TIMEOUT) -> HangardDaemon:
        """Start the process and wait until ``/healthz`` answers 200."""
        assert not self.running, "already running"
        for _ in range(5):
            self.port = free_port()
            env = {
                **self._base_env,
                "HANGARD_LOG_FORMAT": "json",
                "HANGARD_LOG_LEVEL": self.log_level,
                **self.env,
            }
            with self.log_path.open("ab") as log:
                self.proc = subprocess.Popen(
                    self.command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.workdir,
                    env=env,
                    preexec_fn=_die_with_parent(),
                )
            try:
                self.wait_healthy(timeout)
                return self
            except _Exited as exc:
                if "address already in use" not in str(exc).lower():
                    raise RuntimeError(f"hangard run exited early:\n{exc}") from None
        raise RuntimeError("hangard run could not bind a metrics port")

    def run_to_exit(
        self, timeout: float = START_TIMEOUT, *, env: Mapping[str, str] | None = None
    ) -> tuple[int, str]:
        """Run the process on a free port, for a daemon expected to refuse to
        start; its exit code and its output (stdout and stderr)."""
        self.port = free_port()
        done = subprocess.run(
            self.command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            cwd=self.workdir,
            env={
                **self._base_env,
                "HANGARD_LOG_FORMAT": "json",
                "HANGARD_LOG_LEVEL": self.log_level,
                **self.env,
                **(env or {}),
            },
            timeout=timeout,
            check=False,
        )
        return done.returncode, (done.stdout + done.stderr).decode(errors="replace")

    def wait_healthy(self, timeout: float = START_TIMEOUT) -> None:
        def healthy() -> bool:
            if self.proc is None or self.proc.poll() is not None:
                raise _Exited(self.log_tail())
            try:
                return self.get("/healthz", timeout=1.0).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(healthy, timeout, interval=0.02, message="hangard /healthz")

    def send(self, sig: signal.Signals) -> None:
        assert self.proc is not None and self.proc.poll() is None, "not running"
        self.proc.send_signal(sig)

    def wait(self, timeout: float = STOP_TIMEOUT) -> int:
        """Wait for the process to exit; its exit code."""
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM and wait; the exit code."""
        self.send(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        """SIGKILL if still running, and reap."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)

    # ------------------------------------------------------------ endpoints
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str, timeout: float = 5.0) -> httpx.Response:
        return httpx.get(self.url + path, timeout=timeout)

    def metrics(self) -> MetricsSnapshot:
        r = self.get("/metrics")
        r.raise_for_status()
        return MetricsSnapshot.parse(r.text)

    def status(self) -> dict[str, Any]:
        r = self.get("/status")
        r.raise_for_status()
        doc: dict[str, Any] = r.json()
        return doc

    def ready(self) -> bool:
        return self.get("/readyz").status_code == 200

    # ------------------------------------------------------------------ logs
    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-n:])

    def events(self, event: str | None = None) -> list[dict[str, Any]]:
        """The JSON log lines (all runs), optionally only those with ``event``."""
        found = []
        for line in self.log_text().splitlines():
            with contextlib.suppress(ValueError):
                doc = json.loads(line)
                if isinstance(doc, dict) and (event is None or doc.get("event") == event):
                    found.append(doc)
        return found


class _Exited(RuntimeError):
    pass


@dataclass(eq=False)
class NotifySocket:
    """A bound ``AF_UNIX`` datagram socket playing systemd's ``NOTIFY_SOCKET``."""

    path: Path
    messages: list[list[str]] = field(default_factory=list)
    _sock: socket.socket = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(self.path))

    def close(self) -> None:
        self._sock.close()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> NotifySocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _receive(self, timeout: float) -> bool:
        self._sock.settimeout(max(timeout, 0.001))
        try:
            data = self._sock.recv(65536)
        except TimeoutError:
            return False
        self.messages.append(data.decode().split("\n"))
        return True

    def wait_for(self, state: str, timeout: float = 10.0, *, after: int = 0) -> int:
        """Index of the first message from ``after`` on holding the line
        ``state``; receives until it arrives or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        index = after
        while True:
            while index < len(self.messages):
                if state in self.messages[index]:
                    return index
                index += 1
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._receive(remaining):
                raise TimeoutError(f"no {state!r} after message {after}: {self.messages}")

    def drain(self) -> None:
        """Receive whatever is already queued."""
        while self._receive(0.001):
            pass


@contextlib.contextmanager
def daemons(root: Path) -> Iterator[Callable[..., HangardDaemon]]:
    """``make(config, **kw) -> HangardDaemon`` (not started), each in its own
    directory under ``root``; every daemon made is killed on exit."""
    made: list[HangardDaemon] = []

    def make(config: Path, **kw: Any) -> HangardDaemon:
        daemon = HangardDaemon(root / f"daemon{len(made) + 1}", config, **kw)
        made.append(daemon)
        return daemon

    try:
        yield make
    finally:
        for daemon in made:
            daemon.kill()
            # pytest shows this only when the test failed
            print(f"--- {daemon.log_path} (last lines)\n{daemon.log_tail()}")
