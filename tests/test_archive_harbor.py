"""``hangard load FILE.zip --to HARBOR`` creates the Harbor projects it
needs before pushing (as ``copy``, ``sync`` and the daemon do, see
``tests/test_harbor.py``), with and without ``--project``; a refused
creation is one line with the ``harbor_project`` reason's message and hint.

The Harbor is :class:`tests.harness.harbor.FakeHarbor`, a mock of Harbor's
project API in front of a real ``docker-registry`` (``plain_registry2``):
no local server has Harbor's project API, so a fake is the only way."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import images, skopeo
from tests.harness.harbor import FakeHarbor
from tests.harness.registry import Registry
from tests.helpers_cli import Hangard

pytestmark = pytest.mark.usefixtures("tmp_authfile")

USER, PASSWORD = "robot$mirror", "robot-secret"
PROJECTS = r"^/api/v2\.0/projects$"


@pytest.fixture
def harbor(plain_registry2: Registry) -> Iterator[FakeHarbor]:
    """A fake Harbor in front of ``plain_registry2``; no project exists yet."""
    with FakeHarbor(plain_registry2.host, users={USER: PASSWORD}) as server:
        yield server


def saved(
    hangard: Hangard, src: Registry, tmp_path: Path
) -> tuple[Path, images.Index, images.Image]:
    index = images.push_oci_index(src, "team/app", "1", seed=31)
    single = images.push_oci_image(src, "ops/tool", "2", seed=32)
    archive = tmp_path / "a.zip"
    refs = [f"{src.host}/team/app:1", f"{src.host}/ops/tool:2"]
    run = hangard("save", *refs, "-o", str(archive), "--plain-http", "--no-progress")
    assert run.code == 0, run.err
    return archive, index, single


def load(hangard: Hangard, archive: Path, harbor: FakeHarbor, *extra: str) -> tuple[int, str, str]:
    run = hangard(
        "load", str(archive), "--to", harbor.host, "--plain-http", "--no-progress",
        "--creds", f"{USER}:{PASSWORD}", *extra,
    )  # fmt: skip
    return run.code, run.out, run.err


def test_load_creates_each_missing_project_then_pushes_digests_kept(
    hangard: Hangard, plain_registry: Registry, plain_registry2: Registry, harbor: FakeHarbor,
    tmp_path: Path,
) -> None:  # fmt: skip
    archive, index, single = saved(hangard, plain_registry, tmp_path)
    harbor.add_project("ops")  # exists already: checked, not created

    code, _, err = load(hangard, archive, harbor)

    assert code == 0, err
    assert sorted(harbor.projects) == ["ops", "team"]
    assert harbor.projects["team"]["public"] == "false"
    assert harbor.count("POST", PROJECTS) == 1  # only the missing one
    assert skopeo.inspect_raw(plain_registry2, "team/app", "1") == index.manifest
    assert skopeo.inspect_raw(plain_registry2, "ops/tool", "2") == single.manifest
    for child in index.children:
        assert skopeo.inspect_raw(plain_registry2, "team/app", child.digest) == child.manifest


def test_load_with_project_creates_that_project(
    hangard: Hangard, plain_registry: Registry, plain_registry2: Registry, harbor: FakeHarbor,
    tmp_path: Path,
) -> None:  # fmt: skip
    archive, index, single = saved(hangard, plain_registry, tmp_path)

    code, _, err = load(hangard, archive, harbor, "--project", "edge")

    assert code == 0, err
    assert sorted(harbor.projects) == ["edge"]
    assert harbor.count("POST", PROJECTS) == 1
    assert skopeo.inspect_raw(plain_registry2, "edge/app", "1") == index.manifest
    assert skopeo.inspect_raw(plain_registry2, "edge/tool", "2") == single.manifest


def test_load_refused_creation_is_one_line_with_reason_and_hint(
    hangard: Hangard, plain_registry: Registry, plain_registry2: Registry, harbor: FakeHarbor,
    tmp_path: Path,
) -> None:  # fmt: skip
    archive, _, _ = saved(hangard, plain_registry, tmp_path)
    harbor.refuse_creation = True

    code, out, err = load(hangard, archive, harbor, "--project", "edge")

    assert code == 1
    assert "Traceback" not in err and PASSWORD not in err + out
    failed = [line for line in err.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 2, err
    for line in failed:
        assert "Harbor would not create project edge: forbidden" in line
        assert "HTTP 403" in line and "robot account" in line
    events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    refusal = next(e for e in events if e["event"] == "harbor project unavailable")
    assert refusal["reason"] == "harbor_project" and "robot account" in refusal["hint"]
    assert "edge" not in harbor.projects
    assert not images.manifest_exists(plain_registry2, "edge/app", "1")
