"""``dist_dir``: the directory with hangard's sdist and wheel.

``HANGARD_TEST_DIST`` when ./test.sh built them (``HANGARD_TEST_INSTALLED=1``,
scripts/install-wheel.sh), else built here once per session with
``python -m build`` (the wheel from the sdist, as CI builds it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


_built: list[Path] = []  # one build per session, whichever module asks first


def dist_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("HANGARD_TEST_DIST")
    if given:
        return Path(given)
    if not _built:
        out = tmp_path_factory.mktemp("dist")
        egg_info = ROOT / "hangard.egg-info"
        stray = not egg_info.exists()
        result = subprocess.run(
            [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if stray:
            # the sdist step writes it into the checkout, where importlib.metadata
            # would find it before the installed hangard's metadata
            shutil.rmtree(egg_info, ignore_errors=True)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        _built.append(out)
    return _built[0]
