"""Registry credentials: CLI flags, Docker/Podman auth files, credential helpers.

Where :meth:`CredentialStore.lookup` looks for a registry host, first hit wins:

1. ``overrides`` (from ``--src-creds`` and the like), by host;
2. the explicit ``authfile`` when one is given, and nothing else (like
   ``skopeo --authfile``); otherwise, in order, ``$DOCKER_CONFIG/config.json``
   (or ``~/.docker/config.json`` when ``DOCKER_CONFIG`` is unset),
   ``$REGISTRY_AUTH_FILE`` and ``$XDG_RUNTIME_DIR/containers/auth.json``.

Within one file: ``credHelpers[host]``, then ``auths[host]``, then
``credsStore``. A helper is the program ``docker-credential-<name>``, run as
``get`` with the server URL on stdin; it is found on, and runs with, the
process's own ``PATH`` and environment.

Auth keys match the host exactly first, then after dropping an ``http(s)://``
prefix and a ``/v1/`` or ``/v2/`` suffix. Docker Hub (``docker.io``) also
matches ``https://index.docker.io/v1/``, ``index.docker.io`` and
``registry-1.docker.io``.

Results, including "no credentials", are cached per host for
:data:`CREDENTIAL_TTL` (15 minutes by default), after which the files and
helpers are asked again: rotating secrets (ECR's 12-hour tokens from
``docker-credential-ecr-login``) are picked up by a long-running daemon.
Secrets never reach logs, error messages or ``repr``.

From async code use :meth:`CredentialStore.alookup`: a helper is a
subprocess, run in a worker thread so the event loop keeps serving, and
killed when it exceeds ``helper_timeout``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from hangard.core.reference import DEFAULT_REGISTRY, DOCKER_HUB_ALIASES
from hangard.errors import AuthFileError, CredentialHelperError, InputError
from hangard.registry.clock import SYSTEM_CLOCK, Clock

__all__ = [
    "CREDENTIAL_TTL",
    "DEFAULT_HELPER_TIMEOUT",
    "DOCKER_HUB_AUTH_KEY",
    "CredentialStore",
    "Credentials",
    "parse_user_pass",
]

#: The key Docker writes for Docker Hub in ``auths`` and sends to helpers.
DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/"
#: Seconds a credential helper may take before it counts as failed.
DEFAULT_HELPER_TIMEOUT = 30.0
#: Seconds a lookup (auth files read, helper answers) is reused before asking again.
CREDENTIAL_TTL = 15 * 60.0
#: The username a helper returns when ``Secret`` is an identity token.
TOKEN_USERNAME = "<token>"
HELPER_PREFIX = "docker-credential-"

_NOT_FOUND = "credentials not found"
_log = structlog.get_logger(__name__)


@dataclass(frozen=True, repr=False)
class Credentials:
    """What to authenticate with. ``repr`` masks the secrets."""

    username: str | None = None
    password: str | None = None
    identity_token: str | None = None
    """An OAuth2 refresh token (Docker's ``identitytoken``)."""

    def __repr__(self) -> str:
        def mask(value: str | None) -> str:
            return "None" if value is None else "'***'"

        return (
            f"Credentials(username={self.username!r}, password={mask(self.password)}, "
            f"identity_token={mask(self.identity_token)})"
        )

    @property
    def is_empty(self) -> bool:
        return not (self.username or self.password or self.identity_token)


def parse_user_pass(text: str) -> Credentials:
    """Parse ``USER:PASS`` as given to ``--src-creds``; the password may hold colons."""
    username, sep, password = text.partition(":")
    if not sep:
        raise InputError(
            "invalid credentials: expected USER:PASS", remedy="separate user and password with ':'"
        )
    if not username:
        raise InputError("invalid credentials: the user name before ':' is empty")
    if not password:
        raise InputError(f"invalid credentials for user {username!r}: the password is empty")
    return Credentials(username=username, password=password)


def _canonical_host(host: str) -> str:
    host = host.strip().lower()
    return DEFAULT_REGISTRY if host in DOCKER_HUB_ALIASES else host


def _normalise_key(key: str) -> str:
    """``https://Host:5000/v2/`` → ``host:5000``; Hub aliases → ``docker.io``."""
    text = key.strip().lower()
    for prefix in ("https://", "http://"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    text = text.rstrip("/")
    for suffix in ("/v1", "/v2"):
        if text.endswith(suffix):
            text = text[: -len(suffix)]
            break
    return _canonical_host(text)


def _find_key(table: Mapping[str, Any], registry: str) -> str | None:
    """The key of ``table`` that names ``registry``, exact spellings first."""
    exact = [registry]
    if registry == DEFAULT_REGISTRY:
        exact = [DOCKER_HUB_AUTH_KEY, *sorted(DOCKER_HUB_ALIASES)]
    for key in exact:
        if key in table:
            return key
    for key in table:
        if _normalise_key(key) == registry:
            return key
    return None


def _server_url(registry: str) -> str:
    return DOCKER_HUB_AUTH_KEY if registry == DEFAULT_REGISTRY else registry


def _is_helper_name(name: object) -> bool:
    """A bare program suffix: never a path, so only ``PATH`` is searched."""
    return isinstance(name, str) and bool(name) and not any(c in name for c in "/\\\0")


@dataclass(frozen=True)
class _AuthFile:
    path: Path
    doc: Mapping[str, Any]

    def _table(self, name: str) -> Mapping[str, Any]:
        table = self.doc.get(name)
        if table is None:
            return {}
        if not isinstance(table, Mapping):
            raise AuthFileError(f"{self.path}: {name!r} must be a JSON object")
        return table

    def helper_for(self, registry: str) -> str | None:
        helpers = self._table("credHelpers")
        key = _find_key(helpers, registry)
        if key is None:
            return None
        name = helpers[key]
        if not _is_helper_name(name):
            raise AuthFileError(f"{self.path}: credHelpers[{key!r}] must be a helper name")
        return str(name)

    def store(self) -> str | None:
        name = self.doc.get("credsStore")
        if name in (None, ""):
            return None
        if not _is_helper_name(name):
            raise AuthFileError(f"{self.path}: 'credsStore' must be a helper name")
        return str(name)

    def auth_entry(self, registry: str) -> Credentials | None:
        auths = self._table("auths")
        key = _find_key(auths, registry)
        if key is None:
            return None
        entry = auths[key]
        if not isinstance(entry, Mapping):
            raise AuthFileError(f"{self.path}: auths[{key!r}] must be a JSON object")
        username = _opt_str(self.path, key, entry, "username")
        password = _opt_str(self.path, key, entry, "password")
        encoded = _opt_str(self.path, key, entry, "auth")
        if encoded:
            username, password = _decode_auth(self.path, key, encoded)
        creds = Credentials(
            username=username or None,
            password=password or None,
            identity_token=_opt_str(self.path, key, entry, "identitytoken") or None,
        )
        # An empty entry is a placeholder Docker writes when credsStore holds the secret.
        return None if creds.is_empty else creds


def _opt_str(path: Path, key: str, entry: Mapping[str, Any], field: str) -> str | None:
    value = entry.get(field)
    if value is None or isinstance(value, str):
        return value
    raise AuthFileError(f"{path}: auths[{key!r}].{field} must be a string")


def _decode_auth(path: Path, key: str, encoded: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise AuthFileError(f"{path}: auths[{key!r}].auth is not valid base64") from None
    username, sep, password = decoded.partition(":")
    if not sep:
        raise AuthFileError(f"{path}: auths[{key!r}].auth does not decode to user:password")
    return username, password


def _load_auth_file(path: Path) -> _AuthFile:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AuthFileError(f"cannot read auth file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise AuthFileError(f"auth file {path} is not UTF-8 text") from None
    if not text.strip():
        return _AuthFile(path, {})
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise AuthFileError(f"auth file {path} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise AuthFileError(f"auth file {path} must hold a JSON object")
    return _AuthFile(path, doc)


class CredentialStore:
    """Finds the credentials for a registry host. See the module docstring."""

    def __init__(
        self,
        *,
        authfile: str | os.PathLike[str] | None = None,
        overrides: Mapping[str, Credentials] | None = None,
        environ: Mapping[str, str] | None = None,
        helper_timeout: float = DEFAULT_HELPER_TIMEOUT,
        ttl: float = CREDENTIAL_TTL,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        """``environ`` (default ``os.environ``) only locates the auth files;
        with an explicit ``environ`` and no ``HOME`` in it, ``~/.docker`` is
        not searched. ``ttl``: seconds a result is reused (``clock`` measures
        them)."""
        self._authfile = Path(authfile) if authfile is not None else None
        self._overrides = {_canonical_host(k): v for k, v in (overrides or {}).items()}
        self._environ: Mapping[str, str] = os.environ if environ is None else environ
        self._home_fallback = environ is None
        self._helper_timeout = helper_timeout
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[str, tuple[float, Credentials | None]] = {}
        self._paths: list[Path] | None = None
        self._loaded: dict[Path, _AuthFile] = {}
        self._files_read_at = 0.0
        self._lock = threading.Lock()

    def auth_files(self) -> list[Path]:
        """The files searched, in order (only those that exist, unless explicit)."""
        if self._authfile is not None:
            return [self._authfile]
        env = self._environ
        candidates: list[Path] = []
        docker_config = env.get("DOCKER_CONFIG")
        home = env.get("HOME") or (str(Path.home()) if self._home_fallback else None)
        if docker_config:
            candidates.append(Path(docker_config) / "config.json")
        elif home:
            candidates.append(Path(home) / ".docker" / "config.json")
        if env.get("REGISTRY_AUTH_FILE"):
            candidates.append(Path(env["REGISTRY_AUTH_FILE"]))
        if env.get("XDG_RUNTIME_DIR"):
            candidates.append(Path(env["XDG_RUNTIME_DIR"]) / "containers" / "auth.json")
        return [p for p in candidates if p.exists()]

    def lookup(self, registry: str) -> Credentials | None:
        """Credentials for ``registry`` (``host[:port]``), or ``None`` for
        anonymous. May run a credential helper: blocks for as long as it runs
        (at most ``helper_timeout``)."""
        host = _canonical_host(registry)
        with self._lock:
            now = self._clock.monotonic()
            cached = self._cache.get(host)
            if cached is not None and now - cached[0] < self._ttl:
                return cached[1]
            if now - self._files_read_at >= self._ttl:
                # the files may have changed too (docker login, a new helper)
                self._paths = None
                self._loaded.clear()
                self._files_read_at = now
            creds = self._find(host)
            self._cache[host] = (now, creds)
            return creds

    def cached(self, registry: str) -> bool:
        """Whether :meth:`lookup` would answer without reading or running anything."""
        host = _canonical_host(registry)
        with self._lock:
            cached = self._cache.get(host)
            return cached is not None and self._clock.monotonic() - cached[0] < self._ttl

    async def alookup(self, registry: str) -> Credentials | None:
        """:meth:`lookup` for async code: a cached answer at once, else the
        lookup in a worker thread, so a slow helper never blocks the loop."""
        if self.cached(registry):
            return self.lookup(registry)
        return await asyncio.to_thread(self.lookup, registry)

    def _find(self, host: str) -> Credentials | None:
        override = self._overrides.get(host)
        if override is not None:
            _log.debug("credentials.found", registry=host, source="override")
            return override
        if self._paths is None:
            self._paths = self.auth_files()
        for path in self._paths:
            # Load lazily: a broken later file must not hide a good earlier one.
            if path not in self._loaded:
                self._loaded[path] = _load_auth_file(path)
            creds = self._find_in(self._loaded[path], host)
            if creds is not None:
                return creds
        _log.debug("credentials.none", registry=host)
        return None

    def _find_in(self, auth_file: _AuthFile, host: str) -> Credentials | None:
        helper = auth_file.helper_for(host)
        if helper is not None:
            creds = self._run_helper(helper, host)
            if creds is not None:
                _log.debug("credentials.found", registry=host, source=f"{HELPER_PREFIX}{helper}")
                return creds
        creds = auth_file.auth_entry(host)
        if creds is not None:
            _log.debug("credentials.found", registry=host, source=str(auth_file.path))
            return creds
        store = auth_file.store()
        if store is not None:
            creds = self._run_helper(store, host)
            if creds is not None:
                _log.debug("credentials.found", registry=host, source=f"{HELPER_PREFIX}{store}")
                return creds
        return None

    def _run_helper(self, name: str, host: str) -> Credentials | None:
        program = HELPER_PREFIX + name
        path = shutil.which(program)
        if path is None:
            raise CredentialHelperError(
                f"credential helper {program} for {host} is not on PATH",
                remedy="install it or remove it from credHelpers/credsStore in the auth file",
            )
        try:
            done = subprocess.run(
                [path, "get"],
                input=_server_url(host).encode(),
                capture_output=True,
                timeout=self._helper_timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise CredentialHelperError(
                f"credential helper {program} for {host} timed out after {self._helper_timeout:g}s"
            ) from None
        except OSError as exc:
            raise CredentialHelperError(
                f"cannot run credential helper {program} for {host}: {exc.strerror or exc}"
            ) from None
        output = (done.stdout + b"\n" + done.stderr).decode(errors="replace").strip()
        if done.returncode != 0:
            if _NOT_FOUND in output.lower():
                return None
            # On failure the output is an error message, not a secret.
            message = " ".join(output.split())[:200] or "no output"
            raise CredentialHelperError(
                f"credential helper {program} for {host} failed (exit {done.returncode}): {message}"
            )
        return _parse_helper_reply(program, host, done.stdout)


def _parse_helper_reply(program: str, host: str, stdout: bytes) -> Credentials | None:
    try:
        reply = json.loads(stdout)
    except ValueError:
        reply = None
    if not isinstance(reply, dict):
        # Never echo the reply: it may hold the secret.
        raise CredentialHelperError(
            f"credential helper {program} for {host} gave a reply that is not a JSON object"
        )
    username = reply.get("Username")
    secret = reply.get("Secret")
    if not isinstance(username, str | None) or not isinstance(secret, str | None):
        raise CredentialHelperError(
            f"credential helper {program} for {host} gave non-string Username/Secret"
        )
    if not secret:
        return None
    if username == TOKEN_USERNAME:
        return Credentials(identity_token=secret)
    return Credentials(username=username or None, password=secret)
