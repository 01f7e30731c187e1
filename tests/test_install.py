"""The README's "Install on a mirror host" steps, run as written.

Each step is taken from the README's text and run with its system paths
(/opt/pipx, /usr/local/bin, /etc/hangard, ...) moved into a temporary
directory; nothing else in the command changes.  ``pipx`` is Debian's
(scripts/apt-packages.txt), as the README installs it.  The pipx and venv
installs fetch hangard's dependencies from the package index, as they do on
a mirror host.  The systemd steps themselves are checked by
tests/test_deploy.py (``systemd-analyze verify`` on the unit); here their
paths are checked against the unit.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

import hangard
from tests.helpers_dist import dist_dir

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "deploy" / "systemd" / "hangard.service"
SECTION = "## Install on a mirror host"
# the system paths the steps write to, in the order they are replaced
SYSTEM_PATHS = (
    "/usr/share/bash-completion/completions",
    "/usr/local/share/man/man1",
    "/usr/local/bin",
    "/etc/systemd/system",
    "/etc/hangard",
    "/opt/pipx",
    "/opt/hangard",
)
COPY_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "dist", "build", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis"
)


@pytest.fixture
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return dist_dir(tmp_path_factory)


def section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(SECTION + "\n")
    end = text.find("\n## ", start + len(SECTION))
    return text[start : end if end >= 0 else None]


def commands() -> list[str]:
    """Every command line in the section's sh blocks, trailing comments
    dropped; the commented-out alternative (``# PIPX_HOME=...``) counts."""
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", section(), re.DOTALL):
        for raw in block.splitlines():
            line = raw.removeprefix("# ") if raw.startswith("# PIPX_HOME=") else raw
            line = re.sub(r"\s+#\s.*$", "", line).strip()
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


def command(prefix: str, contains: str = "") -> str:
    (found,) = [c for c in commands() if c.startswith(prefix) and contains in c]
    return found


@pytest.fixture
def system(tmp_path: Path) -> dict[str, Path]:
    moved = {path: tmp_path / path.strip("/").replace("/", "_") for path in SYSTEM_PATHS}
    for directory in moved.values():
        directory.mkdir()
    return moved


def run(line: str, system: dict[str, Path], cwd: Path, timeout: float = 900) -> str:
    for path in SYSTEM_PATHS:
        line = line.replace(path, str(system[path]))
    if os.geteuid() != 0:
        line = line.replace(" -o root -g root", "")
    # ``hangard`` is the one a step put in place, else the test venv's
    venv_bin = str(Path(sys.executable).parent)
    path = os.pathsep.join([str(system["/usr/local/bin"]), venv_bin, os.environ["PATH"]])
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", line],
        cwd=cwd,
        env={**os.environ, "PATH": path},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, f"{line}\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the checkout without its venv, caches or build output."""
    copy = tmp_path_factory.mktemp("checkout") / "hangard"
    shutil.copytree(ROOT, copy, ignore=COPY_IGNORE)
    return copy


def exec_start() -> str:
    (line,) = [x for x in UNIT.read_text().splitlines() if x.startswith("ExecStart=")]
    return line.removeprefix("ExecStart=").split()[0]


# --- the text ----------------------------------------------------------------


def test_section_states_platform_support() -> None:
    text = " ".join(section().split())
    assert "Linux" in text
    assert "POSIX signals" in text


def test_steps_match_the_unit() -> None:
    """The binary the unit runs is the one pipx and the venv put in place,
    the files installed exist here, and /readyz is where the unit listens."""
    binary = exec_start()
    pipx = command("PIPX_HOME=", "install .")
    bin_dir = re.search(r"PIPX_BIN_DIR=(\S+)", pipx)
    assert bin_dir and f"{bin_dir.group(1)}/hangard" == binary
    assert command("ln -s").split()[-1] == binary
    for line in commands():
        if line.startswith("install ") and "-d" not in line.split():
            source = line.split()[-2]
            assert (ROOT / source).is_file(), line
    (address,) = re.findall(r"HANGARD_METRICS_ADDRESS=(\S+)", UNIT.read_text())
    assert command("curl") == f"curl -fsS http://{address}/readyz"
    assert command("systemctl enable") == "systemctl enable --now hangard"
    # the tools the steps run, and the directory completions go to
    packages = command("apt-get install").split()[2:]
    assert {"pipx", "help2man", "curl", "bash-completion"} <= set(packages)
    completion = command("hangard --show-completion")
    assert completion.endswith("> /usr/share/bash-completion/completions/hangard")


# --- the steps, run ------------------------------------------------------------


def _pipx_installed(system: dict[str, Path]) -> None:
    binary = system["/usr/local/bin"] / "hangard"
    version = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, timeout=60, check=True
    )
    assert version.stdout.strip() == f"hangard {hangard.__version__}"
    # ProtectHome= would hide an interpreter under /root or /home from the unit
    python = (system["/opt/pipx"] / "venvs" / "hangard" / "bin" / "python").resolve()
    assert not python.is_relative_to("/root") and not python.is_relative_to("/home"), python


@pytest.mark.timeout(900)  # a venv and every dependency from the index
def test_pipx_install_from_a_checkout(system: dict[str, Path], checkout: Path) -> None:
    run(command("PIPX_HOME=", "install ."), system, checkout)
    _pipx_installed(system)


@pytest.mark.timeout(900)  # a venv and every dependency from the index
def test_pipx_install_from_a_wheel(system: dict[str, Path], dist: Path, tmp_path: Path) -> None:
    (tmp_path / "dist").symlink_to(dist)
    run(command("PIPX_HOME=", "dist/"), system, tmp_path)
    _pipx_installed(system)


@pytest.mark.timeout(900)  # a venv and every dependency from the index
def test_venv_install_from_the_lock(system: dict[str, Path], checkout: Path) -> None:
    for line in [c for c in commands() if "/opt/hangard" in c]:
        run(line, system, checkout)
    _venv_matches_lock(system)


def _venv_matches_lock(system: dict[str, Path]) -> None:
    """/usr/local/bin/hangard is the venv's, which holds the locked versions."""
    linked = system["/usr/local/bin"] / "hangard"
    assert linked.resolve() == system["/opt/hangard"] / "bin" / "hangard"
    dump = (
        "import importlib.metadata as m, json; "
        "print(json.dumps({d.name: d.version for d in m.distributions()}))"
    )
    out = subprocess.run(
        [str(system["/opt/hangard"] / "bin" / "python"), "-c", dump],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    installed: dict[str, str] = {canonicalize_name(k): v for k, v in json.loads(out).items()}
    assert installed["hangard"] == hangard.__version__
    lock = (ROOT / "requirements.lock").read_text()
    for name, version, marker in re.findall(r"^([a-z0-9._-]+)==([^\s;]+)( ; [^\\]+)?", lock, re.M):
        if not marker:  # the marked ones are win32-only
            assert installed.get(canonicalize_name(name)) == version, name


def test_config_steps_give_a_valid_config(system: dict[str, Path]) -> None:
    """The unit, config, list file and env file land where the unit reads
    them, and ``hangard validate`` accepts the installed config."""
    for line in commands():
        if line.startswith(("install ", "hangard validate")):
            run(line, system, ROOT)
    unit = system["/etc/systemd/system"] / "hangard.service"
    assert unit.read_text() == UNIT.read_text()
    assert (system["/etc/hangard"] / "hangard.env").stat().st_mode & 0o777 == 0o600


def test_completion_and_man_page(system: dict[str, Path], tmp_path: Path) -> None:
    """The completion script is valid bash and completes subcommands; the
    man page is generated from the CLI's help."""
    for line in [command("hangard --show-completion"), command("help2man")]:
        run(line, system, tmp_path)
    script = system["/usr/share/bash-completion/completions"] / "hangard"
    syntax = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr
    assert complete(script, "hangard", "insp") == ["inspect"]
    assert {"ls", "verify"} <= set(complete(script, "hangard", "archive", ""))
    page = gzip.decompress((system["/usr/local/share/man/man1"] / "hangard.1.gz").read_bytes())
    text = page.decode()
    assert ".SH NAME" in text
    assert "hangard \\- keep container images mirrored between registries" in text
    assert "sync" in text and "--log-level" in text.replace("\\-", "-")


def complete(script: Path, *words: str) -> list[str]:
    """What bash completion offers for the last of ``words``, the way bash
    calls the function the script registers for ``hangard``."""
    program = f"""
source {script}
COMP_WORDS=({" ".join(repr(w) for w in words)})
COMP_CWORD={len(words) - 1}
_hangard_completion hangard
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    venv_bin = str(Path(sys.executable).parent)
    result = subprocess.run(
        ["bash", "-c", program],
        env={**os.environ, "PATH": os.pathsep.join([venv_bin, os.environ["PATH"]])},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [line for line in result.stdout.splitlines() if line]
