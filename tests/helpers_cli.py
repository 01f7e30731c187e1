"""``python -m hangard`` as a real subprocess, cut off from the developer's
setup (the ``hangard`` fixture of ``tests/conftest.py`` makes one per test).

* :class:`Hangard` - ``hangard(*args) -> Run`` in an isolated environment
  (:func:`tests.harness.authfile.isolated_env` over the test's credential
  files, JSON logs), its own state dir and an empty working directory;
  :meth:`Hangard.many` runs independent commands side by side, and
  :meth:`Hangard.with_env` adds variables for some runs only, and
  :meth:`Hangard.loaded` runs it as the console script does and names every
  module it imported;
* :class:`Run` - one finished process: exit code, raw output, decoded output.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from tests.harness.authfile import AuthFiles, isolated_env

TIMEOUT = 60.0

# runs the CLI as the console script does, then prints every loaded module
_LOADED = """
import atexit, json, sys
atexit.register(lambda: print(json.dumps(sorted(sys.modules)), file=sys.stderr))
from hangard.entry import main
main()
"""


def hangard_env(auth: AuthFiles) -> dict[str, str]:
    """Environment for a ``hangard`` subprocess whose credential search only
    finds ``auth``'s files, never the real user's; logs are JSON."""
    return {**isolated_env(auth), "HANGARD_LOG_FORMAT": "json"}


@dataclass(frozen=True)
class Run:
    """One finished ``hangard`` process."""

    code: int
    stdout: bytes
    stderr: bytes

    @property
    def out(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    @property
    def err(self) -> str:
        return self.stderr.decode("utf-8", "replace")


@dataclass(frozen=True)
class Hangard:
    """``python -m hangard`` with isolated credentials, state dir and cwd."""

    env: dict[str, str]
    cwd: Path
    state_dir: Path

    @classmethod
    def isolated(cls, root: Path, auth: AuthFiles) -> Hangard:
        """State in ``root/state`` (``HANGARD_STATE_DIR``), run in the empty ``root/cwd``."""
        state_dir, cwd = root / "state", root / "cwd"
        cwd.mkdir()
        return cls({**hangard_env(auth), "HANGARD_STATE_DIR": str(state_dir)}, cwd, state_dir)

    def with_env(self, **variables: str) -> Hangard:
        """The same, with ``variables`` added to the environment."""
        return replace(self, env={**self.env, **variables})

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "hangard", *args],
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def many(self, *commands: list[str]) -> list[Run]:
        """Run independent commands side by side (the imports dominate)."""
        procs = [self.start(*args) for args in commands]
        try:
            return [_finish(proc) for proc in procs]
        finally:
            for proc in procs:
                if proc.poll() is None:  # a timeout: none outlives the test
                    proc.kill()
                    proc.communicate()

    def __call__(self, *args: str) -> Run:
        return self.many(list(args))[0]

    def loaded(self, *args: str) -> tuple[Run, set[str]]:
        """One run as the ``hangard`` console script, and the names of the
        modules it imported by its exit."""
        proc = subprocess.Popen(
            [sys.executable, "-c", _LOADED, *args],
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        run = _finish(proc)
        return run, set(json.loads(run.err.splitlines()[-1]))


def _finish(proc: subprocess.Popen[bytes]) -> Run:
    out, err = proc.communicate(timeout=TIMEOUT)
    return Run(proc.returncode, out, err)
