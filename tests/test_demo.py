"""``./demo.sh`` works: the README's first command, run as its script
(``scripts/demo.py``, after ``scripts/setup.sh``): copy, sync, and the
air-gap save → verify → load, each digest checked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_demo_runs_and_keeps_the_digest(tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path), "NO_COLOR": "1"}
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = run.stdout
    for shown in ("$ hangard copy", " sync --once ", "$ hangard save", "$ hangard load"):
        assert shown in out
    assert "archive verify" in out and ": sound: 1 images" in out
    assert "0 copied, 2 in sync" in out  # the second sync changed nothing
    assert out.rstrip().endswith("digest preserved: the mirror serves the very same bytes\x1b[0m")
