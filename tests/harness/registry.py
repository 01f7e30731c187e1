"""Real ``docker-registry`` (distribution 2.8) processes for tests.

Each :class:`Registry` runs ``docker-registry serve CONFIG.yml`` on a free port
of 127.0.0.1 with its own filesystem storage directory.  Its stdout and stderr
(logrus lines plus one combined-format access-log line per HTTP request) go to
``log_path``; :meth:`Registry.access_log` parses the access lines so tests can
count requests.

Variants (see the ``make_*`` helpers at the bottom):

* ``make_plain_registry``   - plain HTTP, no auth;
* ``make_tls_registry``     - HTTPS with a certificate from a ``trustme`` CA;
  with ``client_ca=`` also mutual TLS (``http.tls.clientcas``): clients must
  present a certificate that CA issued;
* ``make_basic_registry``   - htpasswd (bcrypt) basic auth.  Registry 2.8 does
  *not* insist on TLS for htpasswd, so this variant is plain HTTP by default
  (``tls=True`` gives basic auth over HTTPS);
* ``make_token_registry``   - bearer-token auth against a
  :class:`tests.harness.tokenserver.TokenServer`;
* ``make_schema1_registry`` - ``compatibility.schema1.enabled: true`` (accepts
  signed schema1 PUTs).  No signing key file is needed: 2.8 generates an
  ephemeral one at start-up.

Registry 2.8 behaviour worth knowing (checked against 2.8.2+ds1):

* every registry converts a Docker schema2 manifest to signed schema1 when it
  is fetched *by tag* with only schema1 types in ``Accept``; only the
  schema1-enabled one accepts a schema1 PUT (others answer 500 UNKNOWN);
* a stored schema1 manifest is kept as its JWS payload only and re-signed with
  the registry's key on every GET: the bytes differ on each GET (and across
  restarts), ``Docker-Content-Digest`` (payload digest) does not;
* bearer tokens are accepted up to 60 s after ``exp`` (and 60 s before
  ``nbf``), see ``TokenServer.exp_claim_offset``;
* the access-log line of a request is written just after its response, so
  :meth:`Registry.access_log` first calls :meth:`Registry.sync_log`;
* ``REGISTRY_*`` environment variables are config overrides for the registry,
  so they are removed from its environment.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import httpx
import yaml

if TYPE_CHECKING:
    import trustme

    from tests.harness.tokenserver import TokenServer

AuthKind = Literal["none", "basic", "token"]

REGISTRY_BINARY = shutil.which("docker-registry") or "/usr/bin/docker-registry"
START_TIMEOUT = 15.0
SYNC_MARKER = "hangard-log-sync"

_ACCESS_RE = re.compile(
    r"^(?P<remote>\S+) \S+ (?P<user>\S+) \[(?P<time>[^\]]+)\] "
    r'"(?P<method>[A-Z]+) (?P<uri>\S+) (?P<proto>[^"]+)" (?P<status>\d{3}) (?P<size>\d+|-)'
    r'(?: "(?P<referer>[^"]*)" "(?P<agent>[^"]*)")?'
)


def free_port() -> int:
    """Return a currently free TCP port on 127.0.0.1 (bind to port 0, read, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _htpasswd_line(username: str, password: str) -> str:
    """A bcrypt htpasswd line, via ``htpasswd -Bbn`` (python bcrypt is not installed)."""
    out = subprocess.run(
        ["htpasswd", "-Bbn", "-C", "5", username, password],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    return out.strip() + "\n"


@dataclass(frozen=True)
class AccessLogEntry:
    """One parsed access-log line of the registry."""

    method: str
    uri: str
    status: int
    size: int
    user_agent: str

    @property
    def path(self) -> str:
        """The URI without its query string."""
        return self.uri.split("?", 1)[0]


@dataclass(eq=False)
class Registry:
    """A ``docker-registry`` process; create via the ``make_*`` helpers or directly."""

    workdir: Path
    auth: AuthKind = "none"
    tls: bool = False
    schema1: bool = False
    username: str | None = None
    password: str | None = None
    ca: trustme.CA | None = None
    token_server: TokenServer | None = None
    token_service: str = "hangard-test-registry"
    delete_enabled: bool = True
    port: int = 0
    extra_config: dict[str, Any] = field(default_factory=dict)
    hostnames: tuple[str, ...] = ("127.0.0.1", "localhost")
    """Names the TLS certificate is valid for (a test reaching the registry
    through a proxy under another name adds that name)."""
    client_ca: trustme.CA | None = None
    """With ``tls``: mutual TLS, ``http.tls.clientcas`` trusting this CA; the
    registry then refuses a client without a certificate it issued. The
    harness's own requests present :attr:`client_cert_file` (issued by it)."""
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    ca_file: str | None = field(default=None, init=False)
    client_cert_file: str | None = field(default=None, init=False)
    client_key_file: str | None = field(default=None, init=False)
    storage: Path = field(init=False)
    log_path: Path = field(init=False)
    config_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.storage = self.workdir / "storage"
        self.storage.mkdir(exist_ok=True)
        self.log_path = self.workdir / "registry.log"
        self.config_path = self.workdir / "config.yml"
        self._port_fixed = self.port != 0
        if self.auth == "basic" and (self.username is None or self.password is None):
            raise ValueError("basic auth needs username and password")
        if self.auth == "token" and self.token_server is None:
            raise ValueError("token auth needs a token_server")
        if self.tls:
            if self.ca is None:
                import trustme

                self.ca = trustme.CA()
            ca_path = self.workdir / "ca.pem"
            self.ca.cert_pem.write_to_path(str(ca_path))
            self.ca_file = str(ca_path)
        if self.client_ca is not None:
            if not self.tls:
                raise ValueError("client_ca (mutual TLS) needs tls=True")
            leaf = self.client_ca.issue_cert("harness-client@localhost")
            self.client_cert_file = str(self.workdir / "harness-client.cert")
            self.client_key_file = str(self.workdir / "harness-client.key")
            leaf.cert_chain_pems[0].write_to_path(self.client_cert_file)
            leaf.private_key_pem.write_to_path(self.client_key_file)

    # ------------------------------------------------------------------ info
    @property
    def scheme(self) -> str:
        """``http`` or ``https``."""
        return "https" if self.tls else "http"

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:PORT``."""
        return f"{self.scheme}://{self.host}"

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """Value for httpx ``verify=``: an SSL context trusting ``ca_file``, else True."""
        if self.ca_file:
            ctx = ssl.create_default_context(cafile=self.ca_file)
            if self.client_cert_file and self.client_key_file:
                ctx.load_cert_chain(self.client_cert_file, self.client_key_file)
            return ctx
        return True

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self.proc is not None and self.proc.poll() is None

    def http_client(self, *, auth: bool = False, **kwargs: Any) -> httpx.Client:
        """A plain httpx client for this registry (basic creds if ``auth`` and basic)."""
        if auth and self.auth == "basic":
            assert self.username is not None and self.password is not None
            kwargs.setdefault("auth", (self.username, self.password))
        kwargs.setdefault("timeout", 30.0)
        return httpx.Client(base_url=self.url, verify=self.verify, **kwargs)

    # ---------------------------------------------------------------- config
    def _config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "info", "accesslog": {"disabled": False}, "formatter": "text"},
            "storage": {
                "filesystem": {"rootdirectory": str(self.storage)},
                "delete": {"enabled": self.delete_enabled},
                "maintenance": {"uploadpurging": {"enabled": False}},
            },
            "http": {
                "addr": self.host,
                "secret": secrets.token_hex(16),
                "headers": {"X-Content-Type-Options": ["nosniff"]},
            },
        }
        if self.tls:
            assert self.ca is not None
            cert = self.ca.issue_cert(*self.hostnames)
            cert_path = self.workdir / "server.pem"
            key_path = self.workdir / "server.key"
            with cert_path.open("wb") as f:
                for blob in cert.cert_chain_pems:
                    f.write(blob.bytes())
            cert.private_key_pem.write_to_path(str(key_path))
            cfg["http"]["tls"] = {"certificate": str(cert_path), "key": str(key_path)}
            if self.client_ca is not None:
                client_cas = self.workdir / "client-ca.pem"
                self.client_ca.cert_pem.write_to_path(str(client_cas))
                cfg["http"]["tls"]["clientcas"] = [str(client_cas)]
        if self.auth == "basic":
            assert self.username is not None and self.password is not None
            htpasswd = self.workdir / "htpasswd"
            if not htpasswd.exists():
                htpasswd.write_text(_htpasswd_line(self.username, self.password))
            cfg["auth"] = {"htpasswd": {"realm": "hangard-test", "path": str(htpasswd)}}
        elif self.auth == "token":
            ts = self.token_server
            assert ts is not None
            cfg["auth"] = {
                "token": {
                    "realm": ts.realm,
                    "service": self.token_service,
                    "issuer": ts.issuer,
                    "rootcertbundle": str(ts.rootcertbundle),
                }
            }
        if self.schema1:
            cfg["compatibility"] = {"schema1": {"enabled": True}}
        _deep_merge(cfg, self.extra_config)
        return cfg

    # ------------------------------------------------------------- lifecycle
    def start(self, timeout: float = START_TIMEOUT) -> Registry:
        """Start the process and wait until ``/v2/`` answers; returns self."""
        if self.running:
            return self
        attempts = 1 if self._port_fixed else 5
        last_error = ""
        for _ in range(attempts):
            if not self._port_fixed or self.port == 0:
                self.port = free_port()
            self.config_path.write_text(yaml.safe_dump(self._config(), sort_keys=False))
            with self.log_path.open("ab") as log:
                self.proc = subprocess.Popen(
                    [REGISTRY_BINARY, "serve", str(self.config_path)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.workdir,
                    env=_registry_env(),
                    preexec_fn=_die_with_parent(),
                )
            _LIVE.add(self)
            try:
                self.wait_ready(timeout)
                self._port_fixed = True  # restart() reuses this port
                return self
            except _ExitedEarly as exc:
                last_error = str(exc)
                self.proc = None
                if "address already in use" not in last_error:
                    break
        raise RuntimeError(f"docker-registry failed to start:\n{last_error}")

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Poll ``GET /v2/`` until any HTTP answer arrives (200 or 401), with a deadline."""
        deadline = time.monotonic() + timeout
        delay = 0.005
        with httpx.Client(verify=self.verify, timeout=2.0) as client:
            while True:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise _ExitedEarly(self._log_tail())
                try:
                    r = client.get(f"{self.url}/v2/")
                    if r.status_code in (200, 401):
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise TimeoutError(f"registry not ready after {timeout}s:\n{self._log_tail()}")
                time.sleep(delay)
                delay = min(delay * 2, 0.1)

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the process (SIGTERM, then SIGKILL) and wait for it."""
        proc, self.proc = self.proc, None
        _LIVE.discard(self)
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL the process (simulate a crash) and reap it."""
        proc, self.proc = self.proc, None
        _LIVE.discard(self)
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)

    def restart(self, timeout: float = START_TIMEOUT) -> Registry:
        """Stop and start again on the same port with the same storage."""
        self.stop()
        return self.start(timeout)

    def __enter__(self) -> Registry:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ logs
    def _log_tail(self, n: int = 40) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return ""
        return "\n".join(lines[-n:])

    def log_text(self) -> str:
        """Whole log file (all runs of this registry, appended)."""
        return self.log_path.read_text(errors="replace")

    def sync_log(self, timeout: float = 10.0) -> None:
        """Make sure earlier requests' access lines are flushed to the log.

        Sends an unauthenticated ``GET /v2/?hangard-log-sync=<uuid>`` and polls
        the log until that line appears.  Sync requests are excluded from
        :meth:`access_log`.
        """
        marker = f"{SYNC_MARKER}={uuid.uuid4().hex}"
        with httpx.Client(verify=self.verify, timeout=5.0) as client:
            client.get(f"{self.url}/v2/?{marker}")
        deadline = time.monotonic() + timeout
        delay = 0.002
        while marker not in self.log_text():
            if time.monotonic() > deadline:
                raise TimeoutError("registry access log did not show the sync request")
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def access_log(self, *, sync: bool = True) -> list[AccessLogEntry]:
        """Parsed access-log entries (sync requests excluded); ``sync`` flushes first."""
        if sync and self.running:
            self.sync_log()
        entries = []
        for line in self.log_text().splitlines():
            m = _ACCESS_RE.match(line)
            if not m or SYNC_MARKER in m["uri"]:
                continue
            entries.append(
                AccessLogEntry(
                    method=m["method"],
                    uri=m["uri"],
                    status=int(m["status"]),
                    size=0 if m["size"] == "-" else int(m["size"]),
                    user_agent=m["agent"] or "",
                )
            )
        return entries

    def count_requests(
        self,
        method: str | None = None,
        path_re: str | None = None,
        status: int | None = None,
        *,
        sync: bool = True,
    ) -> int:
        """Count access-log entries matching method / regex on the path / status."""
        rx = re.compile(path_re) if path_re else None
        return sum(
            1
            for e in self.access_log(sync=sync)
            if (method is None or e.method == method)
            and (rx is None or rx.search(e.path))
            and (status is None or e.status == status)
        )

    # --------------------------------------------------------------- storage
    def blob_path(self, digest: str) -> Path:
        """Filesystem path of a blob's data file in this registry's storage."""
        algo, hexd = digest.split(":", 1)
        return self.storage / "docker/registry/v2/blobs" / algo / hexd[:2] / hexd / "data"


class _ExitedEarly(RuntimeError):
    pass


_LIVE: set[Registry] = set()


def stop_all() -> None:
    """Stop every registry still running (safety net for session teardown)."""
    for reg in list(_LIVE):
        with contextlib.suppress(Exception):
            reg.stop()


def _die_with_parent() -> Callable[[], None] | None:
    """preexec_fn: SIGTERM the registry if pytest dies (e.g. SIGKILL, os._exit).

    PR_SET_PDEATHSIG fires when the *thread* that forked exits, so it is only
    used for registries started from the main thread.
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None

    def hook() -> None:
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG

    return hook


def _registry_env() -> dict[str, str]:
    """Environment without ``REGISTRY_*``: distribution reads those as config overrides
    (e.g. ``REGISTRY_AUTH_FILE`` set by ``tmp_authfile`` would become ``auth.file``)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> None:
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _deep_merge(base[k], v)
        else:
            base[k] = v


# ---------------------------------------------------------------- factories
def make_plain_registry(workdir: Path, **kw: Any) -> Registry:
    """Plain HTTP, no auth (not started)."""
    return Registry(workdir, **kw)


def make_tls_registry(workdir: Path, ca: trustme.CA | None = None, **kw: Any) -> Registry:
    """HTTPS (cert for 127.0.0.1 and localhost from ``ca``), no auth (not started)."""
    return Registry(workdir, tls=True, ca=ca, **kw)


def make_basic_registry(
    workdir: Path,
    username: str = "alice",
    password: str = "alice-secret",
    *,
    tls: bool = False,
    ca: trustme.CA | None = None,
    **kw: Any,
) -> Registry:
    """htpasswd basic auth; plain HTTP unless ``tls`` (not started)."""
    return Registry(
        workdir, auth="basic", username=username, password=password, tls=tls, ca=ca, **kw
    )


def make_token_registry(
    workdir: Path,
    token_server: TokenServer,
    username: str | None = "alice",
    password: str | None = None,
    **kw: Any,
) -> Registry:
    """Bearer-token auth; ``username``/``password`` default to a user of the token server."""
    if username is not None and password is None:
        password = token_server.users.get(username)
    return Registry(
        workdir,
        auth="token",
        token_server=token_server,
        username=username,
        password=password,
        **kw,
    )


def make_schema1_registry(workdir: Path, **kw: Any) -> Registry:
    """Plain HTTP, no auth, schema1 manifests accepted (not started)."""
    return Registry(workdir, schema1=True, **kw)
