"""Credential lookup (hangard.registry.credentials) against real files and helpers."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import stat
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from hangard.errors import (
    AuthFileError,
    ConfigError,
    CredentialHelperError,
    InputError,
    OperationError,
)
from hangard.registry.credentials import (
    CREDENTIAL_TTL,
    Credentials,
    CredentialStore,
    parse_user_pass,
)
from tests.helpers_clock import FakeClock


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def write_json(path: Path, doc: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


# A real credential helper: answers from store.json next to it and logs each call.
HELPER_SCRIPT = """\
#!{python}
import json, os, pathlib, sys, time
here = pathlib.Path(__file__).resolve().parent
server = sys.stdin.read().strip()
with open(here / "calls.log", "a") as log:
    log.write(pathlib.Path(sys.argv[0]).name + " " + " ".join(sys.argv[1:]) + " " + server + "\\n")
if sys.argv[1:] != ["get"]:
    sys.exit(3)
store = json.loads((here / "store.json").read_text())
entry = store.get(server)
if entry == "fail":
    print("keychain is locked", file=sys.stderr)
    sys.exit(2)
if entry == "garbage":
    print("secret-in-garbage not json")
    sys.exit(0)
if entry == "hang":
    (here / "hang.pid").write_text(str(os.getpid()))
    time.sleep(30)
if isinstance(entry, dict):  # {{"sleep": seconds, "creds": [user, secret]}}
    time.sleep(entry["sleep"])
    entry = entry["creds"]
if entry is None:
    print("credentials not found in native keychain")
    sys.exit(1)
print(json.dumps({{"ServerURL": server, "Username": entry[0], "Secret": entry[1]}}))
"""


class Helpers:
    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.store: dict[str, Any] = {}

    def install(self, name: str) -> None:
        path = self.bindir / f"docker-credential-{name}"
        path.write_text(HELPER_SCRIPT.format(python=sys.executable))
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)

    def set(self, server: str, value: Any) -> None:
        self.store[server] = value
        write_json(self.bindir / "store.json", self.store)

    def calls(self) -> list[str]:
        log = self.bindir / "calls.log"
        return log.read_text().splitlines() if log.exists() else []


@pytest.fixture
def helpers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Helpers:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    h = Helpers(bindir)
    write_json(bindir / "store.json", {})
    h.install("test")
    return h


@pytest.fixture
def docker_config(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A DOCKER_CONFIG directory and an environ pointing only at it."""
    directory = tmp_path / "docker"
    directory.mkdir()
    return directory / "config.json", {"DOCKER_CONFIG": str(directory)}


# --- Credentials and parse_user_pass -------------------------------------------------


def test_repr_masks_secrets() -> None:
    creds = Credentials(username="alice", password="hunter2", identity_token="refresh-xyz")
    text = repr(creds)
    assert "alice" in text
    assert "hunter2" not in text
    assert "refresh-xyz" not in text
    assert "hunter2" not in str(creds)
    assert repr(Credentials()) == "Credentials(username=None, password=None, identity_token=None)"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("alice:secret", Credentials("alice", "secret")),
        ("alice:se:cr:et", Credentials("alice", "se:cr:et")),
        ("a l i c e:p@ss w", Credentials("a l i c e", "p@ss w")),
    ],
)
def test_parse_user_pass(text: str, expected: Credentials) -> None:
    assert parse_user_pass(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("alice", "expected USER:PASS"),
        ("", "expected USER:PASS"),
        (":secret", "user name before ':' is empty"),
        ("alice:", "password is empty"),
    ],
)
def test_parse_user_pass_rejects(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        parse_user_pass(text)
    assert "secret" not in str(info.value)


# --- auth files --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"auth": b64("bob:pa:ss")}, Credentials("bob", "pa:ss")),
        ({"username": "bob", "password": "pw"}, Credentials("bob", "pw")),
        ({"identitytoken": "tok"}, Credentials(identity_token="tok")),
        (
            {"auth": b64("bob:pw"), "identitytoken": "tok"},
            Credentials("bob", "pw", identity_token="tok"),
        ),
        ({"auth": b64("bob:pw"), "username": "ignored"}, Credentials("bob", "pw")),
    ],
)
def test_auth_entry_forms(
    docker_config: tuple[Path, dict[str, str]], entry: dict[str, str], expected: Credentials
) -> None:
    path, environ = docker_config
    write_json(path, {"auths": {"registry.example.com:5000": entry}})
    store = CredentialStore(environ=environ)
    assert store.lookup("registry.example.com:5000") == expected
    assert store.lookup("registry.example.com") is None
    assert store.lookup("other.example.com:5000") is None


@pytest.mark.parametrize(
    "key",
    [
        "https://index.docker.io/v1/",
        "docker.io",
        "index.docker.io",
        "registry-1.docker.io",
        "https://registry-1.docker.io/v2/",
        "https://index.docker.io/v1",
    ],
)
def test_docker_hub_keys(docker_config: tuple[Path, dict[str, str]], key: str) -> None:
    path, environ = docker_config
    write_json(path, {"auths": {key: {"auth": b64("hub:pw")}}})
    store = CredentialStore(environ=environ)
    assert store.lookup("docker.io") == Credentials("hub", "pw")
    assert store.lookup("index.docker.io") == Credentials("hub", "pw")


@pytest.mark.parametrize(
    "key",
    [
        "quay.example.com",
        "https://quay.example.com",
        "http://quay.example.com/",
        "https://quay.example.com/v2/",
        "https://quay.example.com/v1/",
        "QUAY.example.com",
    ],
)
def test_key_normalisation(docker_config: tuple[Path, dict[str, str]], key: str) -> None:
    path, environ = docker_config
    write_json(path, {"auths": {key: {"auth": b64("u:p")}}})
    assert CredentialStore(environ=environ).lookup("quay.example.com") == Credentials("u", "p")


def test_exact_key_wins_over_normalised(docker_config: tuple[Path, dict[str, str]]) -> None:
    path, environ = docker_config
    write_json(
        path,
        {
            "auths": {
                "https://r.example.com/v2/": {"auth": b64("loose:1")},
                "r.example.com": {"auth": b64("exact:2")},
                "docker.io": {"auth": b64("alias:3")},
                "https://index.docker.io/v1/": {"auth": b64("hub:4")},
            }
        },
    )
    store = CredentialStore(environ=environ)
    assert store.lookup("r.example.com") == Credentials("exact", "2")
    assert store.lookup("docker.io") == Credentials("hub", "4")


def test_keys_with_a_repository_path_do_not_match(
    docker_config: tuple[Path, dict[str, str]],
) -> None:
    path, environ = docker_config
    write_json(path, {"auths": {"quay.io/org": {"auth": b64("u:p")}}})
    assert CredentialStore(environ=environ).lookup("quay.io") is None


def test_search_order(tmp_path: Path) -> None:
    docker_dir = tmp_path / "dockercfg"
    home = tmp_path / "home"
    reg_auth = tmp_path / "reg-auth.json"
    xdg = tmp_path / "run"
    write_json(docker_dir / "config.json", {"auths": {"a.example": {"auth": b64("docker:1")}}})
    write_json(home / ".docker" / "config.json", {"auths": {"b.example": {"auth": b64("home:1")}}})
    write_json(
        reg_auth,
        {
            "auths": {
                "a.example": {"auth": b64("regauth:2")},
                "b.example": {"auth": b64("regauth:2")},
                "c.example": {"auth": b64("regauth:2")},
            }
        },
    )
    write_json(
        xdg / "containers" / "auth.json",
        {
            "auths": {
                "c.example": {"auth": b64("xdg:3")},
                "d.example": {"auth": b64("xdg:3")},
            }
        },
    )
    everything = {
        "DOCKER_CONFIG": str(docker_dir),
        "HOME": str(home),
        "REGISTRY_AUTH_FILE": str(reg_auth),
        "XDG_RUNTIME_DIR": str(xdg),
    }
    store = CredentialStore(environ=everything)
    assert store.lookup("a.example") == Credentials("docker", "1")
    # DOCKER_CONFIG replaces ~/.docker entirely.
    assert store.lookup("b.example") == Credentials("regauth", "2")
    assert store.lookup("c.example") == Credentials("regauth", "2")
    assert store.lookup("d.example") == Credentials("xdg", "3")
    assert store.lookup("e.example") is None
    assert store.auth_files() == [
        docker_dir / "config.json",
        reg_auth,
        xdg / "containers" / "auth.json",
    ]

    without_docker_config = {k: v for k, v in everything.items() if k != "DOCKER_CONFIG"}
    store = CredentialStore(environ=without_docker_config)
    assert store.lookup("a.example") == Credentials("regauth", "2")
    assert store.lookup("b.example") == Credentials("home", "1")

    # An explicit authfile is the only file consulted.
    store = CredentialStore(authfile=xdg / "containers" / "auth.json", environ=everything)
    assert store.lookup("a.example") is None
    assert store.lookup("c.example") == Credentials("xdg", "3")


def test_no_files_no_credentials(tmp_path: Path) -> None:
    store = CredentialStore(environ={"DOCKER_CONFIG": str(tmp_path / "missing")})
    assert store.auth_files() == []
    assert store.lookup("docker.io") is None
    # No HOME in an explicit environ: the real home is never read.
    assert CredentialStore(environ={}).auth_files() == []


def test_overrides_come_first(docker_config: tuple[Path, dict[str, str]]) -> None:
    path, environ = docker_config
    write_json(path, {"auths": {"r.example.com": {"auth": b64("file:1")}}})
    override = Credentials("cli", "2")
    store = CredentialStore(
        environ=environ, overrides={"r.example.com": override, "index.docker.io": override}
    )
    assert store.lookup("r.example.com") == override
    assert store.lookup("docker.io") == override


def test_explicit_authfile_missing_is_an_error(tmp_path: Path) -> None:
    store = CredentialStore(authfile=tmp_path / "nope.json", environ={})
    with pytest.raises(AuthFileError, match=r"nope\.json"):
        store.lookup("r.example.com")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not valid JSON"),
        ("[]", "must hold a JSON object"),
        ('{"auths": []}', "'auths' must be a JSON object"),
        ('{"auths": {"r.example.com": {"auth": "!!!"}}}', "auth is not valid base64"),
        ('{"auths": {"r.example.com": {"auth": "' + b64("nocolon") + '"}}}', "user:password"),
        ('{"auths": {"r.example.com": "x"}}', "must be a JSON object"),
        ('{"credHelpers": {"r.example.com": 3}}', "must be a helper name"),
        ('{"credHelpers": {"r.example.com": "../../bin/sh"}}', "must be a helper name"),
        ('{"credsStore": "/usr/bin/env"}', "'credsStore' must be a helper name"),
    ],
)
def test_invalid_auth_file(
    docker_config: tuple[Path, dict[str, str]], content: str, message: str
) -> None:
    path, environ = docker_config
    path.write_text(content)
    with pytest.raises(AuthFileError, match=message) as info:
        CredentialStore(environ=environ).lookup("r.example.com")
    assert str(path) in str(info.value)
    assert isinstance(info.value, ConfigError)


def test_empty_file_is_an_empty_config(docker_config: tuple[Path, dict[str, str]]) -> None:
    path, environ = docker_config
    path.write_text("  \n")
    assert CredentialStore(environ=environ).lookup("r.example.com") is None


def test_broken_later_file_does_not_hide_earlier_hit(
    docker_config: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    path, environ = docker_config
    write_json(path, {"auths": {"r.example.com": {"auth": b64("u:p")}}})
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    store = CredentialStore(environ={**environ, "REGISTRY_AUTH_FILE": str(broken)})
    assert store.lookup("r.example.com") == Credentials("u", "p")
    with pytest.raises(AuthFileError, match=r"broken\.json"):
        store.lookup("other.example.com")


# --- credential helpers ------------------------------------------------------------


def test_cred_helpers(helpers: Helpers, docker_config: tuple[Path, dict[str, str]]) -> None:
    path, environ = docker_config
    helpers.set("r.example.com", ["alice", "s3cret"])
    helpers.set("t.example.com", ["<token>", "refresh-token"])
    write_json(
        path,
        {
            "credHelpers": {
                "r.example.com": "test",
                "t.example.com": "test",
                "n.example.com": "test",
            },
            "auths": {
                "r.example.com": {"auth": b64("ignored:x")},
                "n.example.com": {"auth": b64("fallback:y")},
            },
        },
    )
    store = CredentialStore(environ=environ)
    assert store.lookup("r.example.com") == Credentials("alice", "s3cret")
    assert store.lookup("t.example.com") == Credentials(identity_token="refresh-token")
    # The helper says "not found": fall back to the auths entry.
    assert store.lookup("n.example.com") == Credentials("fallback", "y")
    assert helpers.calls() == [
        "docker-credential-test get r.example.com",
        "docker-credential-test get t.example.com",
        "docker-credential-test get n.example.com",
    ]
    # Cached per host: no second helper run.
    assert store.lookup("r.example.com") == Credentials("alice", "s3cret")
    assert len(helpers.calls()) == 3


def test_creds_store(helpers: Helpers, docker_config: tuple[Path, dict[str, str]]) -> None:
    path, environ = docker_config
    helpers.set("https://index.docker.io/v1/", ["hubuser", "hubpass"])
    helpers.set("r.example.com", ["<token>", "idtok"])
    # Docker Desktop writes empty placeholders in auths when credsStore holds the secret.
    write_json(
        path,
        {
            "auths": {"https://index.docker.io/v1/": {}, "r.example.com": {}},
            "credsStore": "test",
        },
    )
    store = CredentialStore(environ=environ)
    assert store.lookup("docker.io") == Credentials("hubuser", "hubpass")
    assert store.lookup("r.example.com") == Credentials(identity_token="idtok")
    assert store.lookup("unknown.example.com") is None
    assert store.lookup("unknown.example.com") is None
    assert helpers.calls() == [
        "docker-credential-test get https://index.docker.io/v1/",
        "docker-credential-test get r.example.com",
        "docker-credential-test get unknown.example.com",
    ]


def test_helper_not_found_falls_through_to_next_file(
    helpers: Helpers, docker_config: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    path, environ = docker_config
    write_json(path, {"credsStore": "test"})
    other = write_json(tmp_path / "auth.json", {"auths": {"r.example.com": {"auth": b64("u:p")}}})
    store = CredentialStore(environ={**environ, "REGISTRY_AUTH_FILE": str(other)})
    assert store.lookup("r.example.com") == Credentials("u", "p")


def test_helper_failure_names_the_helper(
    helpers: Helpers, docker_config: tuple[Path, dict[str, str]]
) -> None:
    path, environ = docker_config
    helpers.set("r.example.com", "fail")
    write_json(path, {"credHelpers": {"r.example.com": "test"}})
    with pytest.raises(CredentialHelperError, match="docker-credential-test") as info:
        CredentialStore(environ=environ).lookup("r.example.com")
    assert "keychain is locked" in str(info.value)
    assert isinstance(info.value, OperationError)


def test_helper_garbage_reply_is_not_echoed(
    helpers: Helpers, docker_config: tuple[Path, dict[str, str]]
) -> None:
    path, environ = docker_config
    helpers.set("r.example.com", "garbage")
    write_json(path, {"credHelpers": {"r.example.com": "test"}})
    with pytest.raises(CredentialHelperError, match="not a JSON object") as info:
        CredentialStore(environ=environ).lookup("r.example.com")
    assert "secret-in-garbage" not in str(info.value)


def test_missing_helper_program(
    helpers: Helpers, docker_config: tuple[Path, dict[str, str]]
) -> None:
    path, environ = docker_config
    write_json(path, {"credsStore": "absent"})
    with pytest.raises(CredentialHelperError, match=r"docker-credential-absent .*not on PATH"):
        CredentialStore(environ=environ).lookup("r.example.com")


def test_helper_timeout(helpers: Helpers, docker_config: tuple[Path, dict[str, str]]) -> None:
    path, environ = docker_config
    helpers.set("r.example.com", "hang")
    write_json(path, {"credHelpers": {"r.example.com": "test"}})
    store = CredentialStore(environ=environ, helper_timeout=1.0)
    with pytest.raises(CredentialHelperError, match="timed out"):
        store.lookup("r.example.com")


def test_secrets_never_logged(helpers: Helpers, docker_config: tuple[Path, dict[str, str]]) -> None:
    from structlog.testing import capture_logs

    path, environ = docker_config
    helpers.set("r.example.com", ["alice", "helper-secret"])
    write_json(
        path,
        {
            "credHelpers": {"r.example.com": "test"},
            "auths": {"f.example.com": {"auth": b64("bob:file-secret")}},
        },
    )
    store = CredentialStore(environ=environ)
    with capture_logs() as logs:
        store.lookup("r.example.com")
        store.lookup("f.example.com")
        store.lookup("none.example.com")
    text = repr(logs)
    assert "helper-secret" not in text
    assert "file-secret" not in text
    assert {entry["registry"] for entry in logs} >= {"r.example.com", "f.example.com"}


# --- async lookups and expiry ------------------------------------------------------


async def test_a_slow_helper_does_not_block_the_event_loop(
    helpers: Helpers, docker_config: tuple[Path, dict[str, str]]
) -> None:
    """The helper sleeps 2 s; a concurrent task keeps ticking meanwhile."""
    path, environ = docker_config
    helpers.set("r.example.com", {"sleep": 2, "creds": ["alice", "s3cret"]})
    write_json(path, {"credHelpers": {"r.example.com": "test"}})
    store = CredentialStore(environ=environ)
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.01)  # the tick rate, not a synchronisation

    task = asyncio.create_task(ticker())
    began = time.monotonic()
    try:
        creds = await store.alookup("r.example.com")
    finally:
        done.set()
        await task
    took = time.monotonic() - began
    assert creds == Credentials("alice", "s3cret")
    assert took >= 1.5  # the helper really ran for its 2 s
    # blocked, the loop would have ticked once; free, about 100 times a second
    assert ticks >= 20, ticks
    # answered from the cache now: no helper run
    assert await store.alookup("r.example.com") == creds
    assert len(helpers.calls()) == 1


async def test_a_hanging_helper_is_killed_and_named(
    helpers: Helpers, docker_config: tuple[Path, dict[str, str]]
) -> None:
    path, environ = docker_config
    helpers.set("r.example.com", "hang")
    write_json(path, {"credHelpers": {"r.example.com": "test"}})
    store = CredentialStore(environ=environ, helper_timeout=1.0)
    began = time.monotonic()
    with pytest.raises(CredentialHelperError) as info:
        await store.alookup("r.example.com")
    assert time.monotonic() - began < 10
    assert "docker-credential-test" in str(info.value)
    assert "timed out after 1s" in str(info.value)
    pid = int((helpers.bindir / "hang.pid").read_text())
    with pytest.raises(ProcessLookupError):  # killed and reaped, not left running
        os.kill(pid, 0)


def test_cached_credentials_expire_after_the_ttl(
    helpers: Helpers, docker_config: tuple[Path, dict[str, str]]
) -> None:
    """A rotated secret (ECR's 12-hour tokens) is picked up once the TTL has passed."""
    path, environ = docker_config
    helpers.set("r.example.com", ["AWS", "token-1"])
    write_json(path, {"credHelpers": {"r.example.com": "test"}})
    clock = FakeClock()
    store = CredentialStore(environ=environ, clock=clock)
    assert store.lookup("r.example.com") == Credentials("AWS", "token-1")
    helpers.set("r.example.com", ["AWS", "token-2"])
    clock.advance(CREDENTIAL_TTL - 1)
    assert store.lookup("r.example.com") == Credentials("AWS", "token-1")
    clock.advance(1)
    assert store.lookup("r.example.com") == Credentials("AWS", "token-2")
    assert len(helpers.calls()) == 2


def test_auth_files_are_read_again_after_the_ttl(
    docker_config: tuple[Path, dict[str, str]],
) -> None:
    path, environ = docker_config
    write_json(path, {"auths": {"r.example.com": {"auth": b64("alice:one")}}})
    clock = FakeClock()
    store = CredentialStore(environ=environ, ttl=60, clock=clock)
    assert store.lookup("r.example.com") == Credentials("alice", "one")
    write_json(path, {"auths": {"r.example.com": {"auth": b64("alice:two")}}})
    assert store.lookup("r.example.com") == Credentials("alice", "one")
    clock.advance(60)
    assert store.lookup("r.example.com") == Credentials("alice", "two")
