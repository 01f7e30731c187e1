"""Harbor projects are made to exist before the first push into them, on
every push path: ``hangard copy``, ``sync --once`` (and the sync cycle the
daemon runs, see ``test_a_daemon_cycle_creates_the_project...``), and any
copy through the copier.

The Harbor is :class:`tests.harness.harbor.FakeHarbor`, a mock of Harbor's
project API and project rules in front of a real ``docker-registry``
(``plain_registry2``): what is pushed through it lands in that registry.
"""

from __future__ import annotations

import asyncio
import base64
import json
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import yaml
from structlog.testing import capture_logs

from hangard.copy import Copier
from hangard.core.desired import DesiredState
from hangard.core.transports import parse_store_reference
from hangard.errors import AuthError, HarborProjectError, Reason
from hangard.registry.client import RegistryClient
from hangard.registry.credentials import Credentials
from hangard.registry.harbor import CREATE_REMEDY, project_of
from hangard.registry.options import CreateProjects, HarborOptions, RegistryOptions
from hangard.stores import RegistryStore
from hangard.sync import run_cycle
from hangard.sync.digestcache import DigestCache
from hangard.sync.execution import ItemOutcome
from tests.conftest import FaultProxyFactory
from tests.harness import images
from tests.harness.daemon import daemons, wait_until
from tests.harness.harbor import FakeHarbor
from tests.harness.registry import Registry
from tests.helpers_cli import Hangard
from tests.helpers_copy import make_client, ref, sha256

USER, PASSWORD = "robot$mirror", "robot-secret"
BASIC = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
PROJECTS = r"^/api/v2\.0/projects$"
PING = r"^/api/v2\.0/ping$"


@pytest.fixture
def harbor(plain_registry2: Registry) -> Iterator[FakeHarbor]:
    """A fake Harbor in front of ``plain_registry2``; no project exists yet."""
    with FakeHarbor(plain_registry2.host, users={USER: PASSWORD}) as server:
        yield server


def harbor_client(
    source: Registry, harbor: FakeHarbor, mode: CreateProjects = "auto", *, public: bool = False
) -> RegistryClient:
    options = RegistryOptions(http=True, harbor=HarborOptions(mode, public))
    return make_client(
        source,
        credentials={harbor.host: Credentials(username=USER, password=PASSWORD)},
        hosts={harbor.host: options},
    )


@pytest.fixture
async def client(plain_registry: Registry, harbor: FakeHarbor) -> AsyncIterator[RegistryClient]:
    async with harbor_client(plain_registry, harbor) as c:
        yield c


def api_calls(harbor: FakeHarbor) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in harbor.requests() if r.path.startswith("/api/")]


# ------------------------------------------------------------------ the copier
async def test_a_copy_creates_the_missing_project_once_then_pushes(
    plain_registry: Registry, plain_registry2: Registry, harbor: FakeHarbor, client: RegistryClient
) -> None:
    one = images.push_oci_image(plain_registry, "lib/one", "1", seed=1)
    two = images.push_oci_index(plain_registry, "lib/two", "1", seed=2)
    copier = Copier(client)

    await copier.copy(ref(plain_registry, "lib/one", "1"), ref(harbor, "team/one", "1"))
    await copier.copy(ref(plain_registry, "lib/two", "1"), ref(harbor, "team/two", "1"))

    assert harbor.projects == {"team": {"public": "false", "proxy_cache": False}}
    # detected once, checked once, created once: for two images into it
    assert api_calls(harbor) == [
        ("GET", "/api/v2.0/ping"),
        ("HEAD", "/api/v2.0/projects"),
        ("POST", "/api/v2.0/projects"),
    ]
    (head,) = [r for r in harbor.requests() if r.method == "HEAD" and r.path.startswith("/api/")]
    assert head.query == {"project_name": ["team"]} and head.authorization == BASIC
    (ping,) = [r for r in harbor.requests() if r.path == "/api/v2.0/ping"]
    assert ping.authorization is None  # detection needs no credentials
    assert client.harbor.created == [(harbor.host, "team")]
    behind = plain_registry2
    assert images.get_manifest_raw(behind, "team/one", "1") == one.manifest
    assert images.get_manifest_raw(behind, "team/two", "1") == two.manifest


async def test_concurrent_copies_into_one_new_project_create_it_once(
    plain_registry: Registry, plain_registry2: Registry, harbor: FakeHarbor, client: RegistryClient
) -> None:
    pushed = [images.push_oci_image(plain_registry, f"lib/app{n}", "1", seed=n) for n in range(4)]
    copier = Copier(client)
    await asyncio.gather(
        *(
            copier.copy(ref(plain_registry, f"lib/app{n}", "1"), ref(harbor, f"team/app{n}", "1"))
            for n in range(4)
        )
    )
    assert harbor.count("GET", PING) == 1
    assert harbor.count("HEAD", PROJECTS) == 1 and harbor.count("POST", PROJECTS) == 1
    for n, image in enumerate(pushed):
        assert images.get_manifest_raw(plain_registry2, f"team/app{n}", "1") == image.manifest


async def test_a_name_harbor_does_not_allow_says_how_to_name_it(
    plain_registry: Registry, harbor: FakeHarbor, client: RegistryClient
) -> None:
    images.push_oci_image(plain_registry, "lib/one", "1", seed=1)
    with pytest.raises(HarborProjectError) as caught:  # a__b is a valid path component
        await Copier(client).copy(ref(plain_registry, "lib/one", "1"), ref(harbor, "a__b/one", "1"))
    assert caught.value.context.status == 400
    assert "project a__b" in caught.value.message
    assert caught.value.remedy is not None and "lower-case" in caught.value.remedy


async def test_the_body_asks_for_a_private_project_unless_public(
    plain_registry: Registry, harbor: FakeHarbor
) -> None:
    images.push_oci_image(plain_registry, "lib/one", "1", seed=1)
    async with harbor_client(plain_registry, harbor, public=True) as c:
        await Copier(c).copy(ref(plain_registry, "lib/one", "1"), ref(harbor, "open/one", "1"))
    assert harbor.projects["open"]["public"] == "true"


async def test_an_existing_project_is_checked_not_created(
    plain_registry: Registry, harbor: FakeHarbor, client: RegistryClient
) -> None:
    images.push_oci_image(plain_registry, "lib/one", "1", seed=1)
    harbor.add_project("team")
    await Copier(client).copy(ref(plain_registry, "lib/one", "1"), ref(harbor, "team/one", "1"))
    assert harbor.count("POST", PROJECTS) == 0 and harbor.count("HEAD", PROJECTS) == 1


async def test_409_from_a_creation_race_is_success(
    plain_registry: Registry, plain_registry2: Registry, harbor: FakeHarbor, client: RegistryClient
) -> None:
    image = images.push_oci_image(plain_registry, "lib/one", "1", seed=1)
    harbor.race_on_create = True
    await Copier(client).copy(ref(plain_registry, "lib/one", "1"), ref(harbor, "team/one", "1"))
    assert harbor.count("POST", PROJECTS) == 1 and client.harbor.created == []
    assert images.get_manifest_raw(plain_registry2, "team/one", "1") == image.manifest


@pytest.mark.parametrize(
    ("mode", "pings"), [(True, 0), ("auto", 1)], ids=["create_projects-true", "auto"]
)
async def test_true_skips_detection_and_auto_detects(
    plain_registry: Registry, harbor: FakeHarbor, mode: CreateProjects, pings: int
) -> None:
    images.push_oci_image(plain_registry, "lib/one", "1", seed=1)
    async with harbor_client(plain_registry, harbor, mode) as c:
        await Copier(c).copy(ref(plain_registry, "lib/one", "1"), ref(harbor, "team/one", "1"))
    assert harbor.count("GET", PING) == pings
    assert harbor.count("POST", PROJECTS) == 1 and "team" in harbor.projects


async def test_false_never_touches_the_api_and_the_push_is_refused(
    plain_registry: Registry, harbor: FakeHarbor
) -> None:
    images.push_oci_image(plain_registry, "lib/one", "1", seed=1)
    async with harbor_client(plain_registry, harbor, False) as c:
        with pytest.raises(AuthError) as caught:
            await Copier(c).copy(ref(plain_registry, "lib/one", "1"), ref(harbor, "team/one", "1"))
    assert caught.value.status == 401 and "project exists" in str(caught.value)
    assert api_calls(harbor) == []


@pytest.mark.parametrize("answer", [None, 400, 401], ids=["its-own-404", "400", "401"])
async def test_a_registry_that_is_not_harbor_gets_one_ping_and_no_post(
    plain_registry: Registry,
    plain_registry2: Registry,
    fault_proxy: FaultProxyFactory,
    answer: int | None,
) -> None:
    """A real docker-registry answers the ping with 404 (other servers with
    anything but 200): no project is checked or created, and the copies go
    through."""
    image = images.push_oci_image(plain_registry, "lib/one", "1", seed=1)
    target = fault_proxy(plain_registry2)
    if answer is not None:
        target.fail(PING, answer, times=None)
    async with make_client(plain_registry, hosts={target.host: RegistryOptions(http=True)}) as c:
        copier = Copier(c)
        await copier.copy(ref(plain_registry, "lib/one", "1"), ref(target, "team/one", "1"))
        await copier.copy(ref(plain_registry, "lib/one", "1"), ref(target, "other/one", "1"))
    api = [(r.method, r.path) for r in target.requests() if r.path.startswith("/api/")]
    assert api == [("GET", "/api/v2.0/ping")]
    assert images.get_manifest_raw(plain_registry2, "other/one", "1") == image.manifest


async def test_a_refused_creation_is_a_harbor_project_error_with_its_remedy(
    plain_registry: Registry, plain_registry2: Registry, harbor: FakeHarbor, client: RegistryClient
) -> None:
    images.push_oci_image(plain_registry, "lib/one", "1", seed=1)
    images.push_oci_image(plain_registry, "lib/two", "1", seed=2)
    harbor.refuse_creation = True
    copier = Copier(client)

    with capture_logs() as logs:
        for repo in ("one", "two"):
            with pytest.raises(HarborProjectError) as caught:
                await copier.copy(
                    ref(plain_registry, f"lib/{repo}", "1"), ref(harbor, f"team/{repo}", "1")
                )
    error = caught.value
    assert error.reason is Reason.HARBOR_PROJECT
    assert error.message == "Harbor would not create project team: forbidden"
    assert (error.context.status, error.context.method) == (403, "POST")
    assert error.context.registry == harbor.host and error.remedy == CREATE_REMEDY
    assert "robot account" in str(error) and "(hint: " in str(error)
    assert PASSWORD not in str(error)
    # asked once in the run: the second image fails alike without asking again
    assert harbor.count("POST", PROJECTS) == 1
    (event,) = [e for e in logs if e["event"] == "harbor project unavailable"]
    assert event["reason"] == "harbor_project" and event["hint"] == CREATE_REMEDY
    assert not images.manifest_exists(plain_registry2, "team/one", "1")


async def test_a_push_into_a_proxy_cache_project_says_so(
    plain_registry: Registry, harbor: FakeHarbor, client: RegistryClient
) -> None:
    images.push_oci_image(plain_registry, "lib/one", "1", seed=1)
    harbor.add_project("dockerhub", proxy_cache=True)
    with pytest.raises(HarborProjectError) as caught:
        await Copier(client).copy(
            ref(plain_registry, "lib/one", "1"), ref(harbor, "dockerhub/one", "1")
        )
    error = caught.value
    assert error.message == (
        "Harbor project dockerhub is a proxy cache: Harbor refuses pushes into it"
    )
    assert error.context.status == 403 and error.reason is Reason.HARBOR_PROJECT
    assert error.remedy is not None and "ordinary project" in error.remedy
    assert harbor.count("POST", PROJECTS) == 0


async def test_credentials_never_follow_a_redirect_to_another_origin(
    plain_registry: Registry,
    plain_registry2: Registry,
    harbor: FakeHarbor,
    client: RegistryClient,
    fault_proxy: FaultProxyFactory,
) -> None:
    image = images.push_oci_image(plain_registry, "lib/one", "1", seed=1)
    elsewhere = fault_proxy(plain_registry)  # another origin, answering 200 to the check
    elsewhere.fail(PROJECTS, 200, times=None)
    harbor.redirect_api = elsewhere.url
    harbor.add_project("team")

    await Copier(client).copy(ref(plain_registry, "lib/one", "1"), ref(harbor, "team/one", "1"))

    (first,) = [r for r in harbor.requests() if r.method == "HEAD" and r.path.startswith("/api/")]
    (followed,) = [r for r in elsewhere.requests() if r.path.startswith("/api/")]
    assert first.authorization == BASIC
    assert followed.authorization is None and followed.query == {"project_name": ["team"]}
    assert all(r.authorization is None for r in elsewhere.requests())
    assert images.get_manifest_raw(plain_registry2, "team/one", "1") == image.manifest


async def test_pushes_from_any_store_and_through_registry_store_create_the_project(
    plain_registry: Registry,
    plain_registry2: Registry,
    harbor: FakeHarbor,
    client: RegistryClient,
    tmp_path: Path,
) -> None:
    """An OCI layout as the source (as an archive's ``load`` is), and a bare
    :class:`RegistryStore` blob push: both go through the one push path."""
    image = images.push_oci_image(plain_registry, "lib/one", "1", seed=1)
    layout = parse_store_reference(f"oci:{tmp_path / 'layout'}:1")
    await Copier(client).copy(ref(plain_registry, "lib/one", "1"), layout)
    await Copier(client).copy(layout, ref(harbor, "fromdisk/one", "1"))
    assert images.get_manifest_raw(plain_registry2, "fromdisk/one", "1") == image.manifest

    blob = b"a blob pushed by a store"
    store = RegistryStore(client, ref(harbor, "bystore/app", "1").repository)
    await store.put_blob(sha256(blob), len(blob), blob)
    assert {"fromdisk", "bystore"} <= set(harbor.projects)
    assert images.blob_exists(plain_registry2, "bystore/app", sha256(blob))


# ------------------------------------------------------------------ reads
async def test_a_missing_project_reads_as_absent_on_harbor_only(
    plain_registry: Registry, harbor: FakeHarbor, client: RegistryClient
) -> None:
    target = ref(harbor, "team/one", "1")
    assert await client.head_manifest(target) is None
    assert not await client.blob_exists(target.repository, "sha256:" + "0" * 64)
    assert "team" not in harbor.projects  # reading creates nothing
    async with harbor_client(plain_registry, harbor, False) as c:
        with pytest.raises(AuthError):
            await c.head_manifest(target)


def test_the_project_is_the_first_path_component() -> None:
    assert project_of(ref(_Host("h:1"), "team/sub/app", "1").repository) == "team"
    assert project_of(ref(_Host("h:1"), "app", "1").repository) is None


class _Host:
    def __init__(self, host: str) -> None:
        self.host = host


# ------------------------------------------------------------------ sync
def sync_state(source: Registry, harbor: FakeHarbor, *repos: str) -> dict[str, object]:
    return {
        "registries": {
            source.host: {"http": True},
            harbor.host: {
                "http": True,
                "credentials": {"username": USER, "password_env": "HARBOR_PASSWORD"},
                "harbor": {"create_projects": "auto"},
            },
        },
        "targets": {"h": {"registry": harbor.host, "prefix": "mirror"}},
        "defaults": {"targets": ["h"]},
        "images": [{"source": f"{source.host}/{r}", "tags": ["1"]} for r in repos],
    }


async def test_each_sync_cycle_checks_the_project_again(
    plain_registry: Registry, harbor: FakeHarbor, client: RegistryClient, tmp_path: Path
) -> None:
    """A long-lived client (the daemon's) starts each cycle afresh: a
    project deleted between cycles is created again."""
    images.push_oci_image(plain_registry, "lib/one", "1", seed=1)
    state = DesiredState.model_validate(sync_state(plain_registry, harbor, "lib/one"))
    cache = DigestCache()

    first = await run_cycle(client, state, cache=cache, failed_path=None)
    (result,) = first.report.results
    assert result.outcome is ItemOutcome.COPIED
    del harbor.projects["mirror"]  # deleted in Harbor meanwhile
    second = await run_cycle(client, state, cache=cache, failed_path=None)

    (result,) = second.report.results
    assert result.outcome is ItemOutcome.COPIED, result.error
    assert harbor.count("POST", PROJECTS) == 2 and "mirror" in harbor.projects


def test_sync_once_creates_the_project(
    tmp_path: Path,
    hangard: Hangard,
    plain_registry: Registry,
    plain_registry2: Registry,
    harbor: FakeHarbor,
) -> None:
    image = images.push_oci_image(plain_registry, "lib/one", "1", seed=1)
    config = tmp_path / "hangard.yaml"
    config.write_text(yaml.safe_dump(sync_state(plain_registry, harbor, "lib/one")))

    with_password = hangard.with_env(HARBOR_PASSWORD=PASSWORD)
    planned = with_password("plan", str(config))
    assert planned.code == 0, planned.err  # a project not created yet: the image is missing
    assert "copy (missing)" in planned.out and "error" not in planned.out.split("\n")[0]

    run = with_password("sync", "--once", "--no-progress", str(config))

    assert run.code == 0, run.err
    assert harbor.count("POST", PROJECTS) == 1 and "mirror" in harbor.projects
    assert images.get_manifest_raw(plain_registry2, "mirror/lib/one", "1") == image.manifest


# ------------------------------------------------------------------ hangard copy
def copy_args(source: Registry, harbor: FakeHarbor, repo: str) -> list[str]:
    return [
        "copy",
        "--src-plain-http",
        "--dest-plain-http",
        "--dest-creds",
        f"{USER}:{PASSWORD}",
        f"docker://{source.host}/lib/one:1",
        f"docker://{harbor.host}/{repo}:1",
    ]


def test_hangard_copy_creates_the_project(
    hangard: Hangard, plain_registry: Registry, plain_registry2: Registry, harbor: FakeHarbor
) -> None:
    image = images.push_oci_image(plain_registry, "lib/one", "1", seed=1)
    run = hangard(*copy_args(plain_registry, harbor, "team/one"))
    assert run.code == 0, run.err
    assert harbor.projects["team"]["public"] == "false"
    assert images.get_manifest_raw(plain_registry2, "team/one", "1") == image.manifest


def test_hangard_copy_refused_creation_is_one_clear_line(
    hangard: Hangard, plain_registry: Registry, harbor: FakeHarbor
) -> None:
    images.push_oci_image(plain_registry, "lib/one", "1", seed=1)
    harbor.refuse_creation = True
    run = hangard(*copy_args(plain_registry, harbor, "team/one"))
    assert run.code == 1
    assert "Traceback" not in run.err and PASSWORD not in run.err + run.out
    assert "Harbor would not create project team: forbidden" in run.err
    assert "HTTP 403" in run.err and "robot account" in run.err


# ------------------------------------------------------------------ the daemon
def test_a_daemon_cycle_creates_the_project_and_counts_a_refusal(
    tmp_path: Path, plain_registry: Registry, plain_registry2: Registry, harbor: FakeHarbor
) -> None:
    """First cycle: Harbor refuses to create the project, counted under
    ``harbor_project``; after a reload, the next cycle creates it and syncs."""
    image = images.push_oci_image(plain_registry, "lib/one", "1", seed=1)
    harbor.refuse_creation = True
    doc = sync_state(plain_registry, harbor, "lib/one")
    doc["defaults"] = {"targets": ["h"], "schedule": "1h"}
    config = tmp_path / "hangard.yaml"
    config.write_text(yaml.safe_dump(doc))
    labels = {"image": f"{plain_registry.host}/lib/one", "target": "h"}
    with daemons(tmp_path) as make:
        daemon = make(config, env={"HARBOR_PASSWORD": PASSWORD}).start()
        wait_until(daemon.ready, 30, message="first cycle")
        metrics = daemon.metrics()
        assert metrics.total("hangard_copy_failures_total", reason="harbor_project", **labels) == 1
        assert metrics.total("hangard_copy_failures_total", **labels) == 1
        (event,) = daemon.events("item failed")
        assert event["reason"] == "harbor_project" and "robot account" in event["hint"]
        status = daemon.status()["items"][0]
        assert status["last_error_reason"] == "harbor_project"
        assert "Traceback" not in daemon.log_text() and PASSWORD not in daemon.log_text()

        harbor.refuse_creation = False
        config.write_text(config.read_text() + "# reload\n")
        daemon.send(signal.SIGHUP)
        wait_until(
            lambda: daemon.metrics().value("hangard_image_in_sync", tag="1", **labels) == 1,
            30,
            message="second cycle in sync",
        )
    assert "mirror" in harbor.projects
    assert images.get_manifest_raw(plain_registry2, "mirror/lib/one", "1") == image.manifest
    assert json.loads(json.dumps(harbor.projects))["mirror"]["public"] == "false"


# ------------------------------------------------------------------ validate --online
def test_validate_online_creates_nothing_and_says_the_project_will_be_created(
    tmp_path: Path, hangard: Hangard, plain_registry: Registry, harbor: FakeHarbor
) -> None:
    images.push_oci_image(plain_registry, "lib/one", "1", seed=1)
    images.push_oci_image(plain_registry, "lib/two", "1", seed=2)
    harbor.add_project("there")
    doc = sync_state(plain_registry, harbor, "lib/one", "lib/two")
    doc["targets"] = {"h": {"registry": harbor.host, "prefix": "mirror"}}
    doc["images"] = [
        {"source": f"{plain_registry.host}/lib/one", "tags": ["1"]},
        {"source": f"{plain_registry.host}/lib/two", "tags": ["1"], "destination": "there/two"},
    ]
    config = tmp_path / "hangard.yaml"
    config.write_text(yaml.safe_dump(doc))

    run = hangard.with_env(HARBOR_PASSWORD=PASSWORD)("validate", "--online", str(config))

    assert run.code == 0, run.out + run.err
    lines = run.out.splitlines()
    assert (
        f"ok   push to {harbor.host}/mirror/lib/one: Harbor project mirror does not exist yet; "
        "hangard creates it before the first push (whether the account may create projects "
        "is not checked)"
    ) in lines
    assert f"ok   push to {harbor.host}/there/two" in lines  # probed: its project exists
    assert harbor.count("POST", PROJECTS) == 0 and "mirror" not in harbor.projects
