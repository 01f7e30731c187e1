"""Registry credentials: CLI flags, Docker/Podman auth files, credential helpers.

Where :meth:`CredentialStore.lookup` looks for a registry host, first hit wins:

1. ``overrides`` (from ``--src-creds`` and the like), by host;
2. the host's own auth file in ``host_authfiles`` (``--src-authfile``,
   ``--dest-authfile``), and nothing else for that host;
3. the explicit ``authfile`` when one is given, and nothing else (like
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
import os
import threading
from collections.abc import Mapping
from pathlib import Path

import structlog

from hangard.errors import AuthFileError
from hangard.registry.clock import SYSTEM_CLOCK, Clock
from hangard.registry.credentials.authfile import AuthFile, load_auth_file
from hangard.registry.credentials.helper import DEFAULT_HELPER_TIMEOUT, HELPER_PREFIX, run_helper
from hangard.registry.credentials.values import Credentials, canonical_key

__all__ = ["CREDENTIAL_TTL", "CredentialStore"]

#: Seconds a lookup (auth files read, helper answers) is reused before asking again.
CREDENTIAL_TTL = 15 * 60.0

_log = structlog.get_logger("hangard.registry.credentials")


class CredentialStore:
    """Finds the credentials for a registry host. See the module docstring."""

    def __init__(
        self,
        *,
        authfile: str | os.PathLike[str] | None = None,
        overrides: Mapping[str, Credentials] | None = None,
        host_authfiles: Mapping[str, str | os.PathLike[str]] | None = None,
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
        self._overrides = {canonical_key(k): v for k, v in (overrides or {}).items()}
        self._host_authfiles = {
            canonical_key(k): Path(v) for k, v in (host_authfiles or {}).items()
        }
        self._environ: Mapping[str, str] = os.environ if environ is None else environ
        self._home_fallback = environ is None
        self._helper_timeout = helper_timeout
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[str, tuple[float, Credentials | None]] = {}
        self._paths: list[Path] | None = None
        self._loaded: dict[Path, AuthFile] = {}
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

    def searched(self, registry: str) -> str:
        """Where :meth:`lookup` looked for ``registry``, for a message when
        it found nothing: the auth files and the helpers they name."""
        host = canonical_key(registry)
        with self._lock:
            paths = self._paths if self._paths is not None else self.auth_files()
            paths = [self._host_authfiles[host]] if host in self._host_authfiles else paths
            places: list[str] = []
            for path in paths:
                places.append(str(path))
                auth_file = self._loaded.get(path)
                if auth_file is None:
                    continue
                try:
                    helpers = [auth_file.helper_for(host), auth_file.store()]
                except AuthFileError:
                    continue
                places += [f"{HELPER_PREFIX}{name}" for name in helpers if name]
        if self._authfile is None and host not in self._host_authfiles and not paths:
            return (
                "no auth file exists ($DOCKER_CONFIG/config.json or ~/.docker/config.json, "
                "$REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json)"
            )
        return ", ".join(places)

    def lookup(self, registry: str) -> Credentials | None:
        """Credentials for ``registry`` (``host[:port]``), or ``None`` for
        anonymous. May run a credential helper: blocks for as long as it runs
        (at most ``helper_timeout``)."""
        host = canonical_key(registry)
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
        host = canonical_key(registry)
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
        own = self._host_authfiles.get(host)
        for path in [own] if own is not None else self._paths:
            # Load lazily: a broken later file must not hide a good earlier one.
            if path not in self._loaded:
                self._loaded[path] = load_auth_file(path)
            creds = self._find_in(self._loaded[path], host)
            if creds is not None:
                return creds
        _log.debug("credentials.none", registry=host)
        return None

    def _find_in(self, auth_file: AuthFile, host: str) -> Credentials | None:
        helper = auth_file.helper_for(host)
        if helper is not None:
            creds = run_helper(helper, host, self._helper_timeout)
            if creds is not None:
                _log.debug("credentials.found", registry=host, source=f"{HELPER_PREFIX}{helper}")
                return creds
        creds = auth_file.auth_entry(host)
        if creds is not None:
            _log.debug("credentials.found", registry=host, source=str(auth_file.path))
            return creds
        store = auth_file.store()
        if store is not None:
            creds = run_helper(store, host, self._helper_timeout)
            if creds is not None:
                _log.debug("credentials.found", registry=host, source=f"{HELPER_PREFIX}{store}")
                return creds
        return None
