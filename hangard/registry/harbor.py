"""Harbor projects: made to exist before the first push into them.

Harbor keeps repositories in *projects*, the first component of the path
(``harbor.example/PROJECT/app``), and refuses every request into a project
that does not exist: its ``v2auth`` middleware answers 401, to pulls and
pushes alike. Hangar creates projects only on ``load``; hangard does it on
every push path, because every push goes through :meth:`HarborProjects.write`
(the client's ``_push``).

Per registry (``harbor:`` in its options, :class:`~hangard.registry.options.HarborOptions`):

* ``create_projects: auto`` (the default): ``GET /api/v2.0/ping`` once per
  registry per run; a 200 means Harbor. Any other answer means not Harbor,
  and nothing else is ever sent to its API;
* ``true``: the registry is Harbor, without asking; ``false``: leave projects alone.

Before the first push into a project in a run: ``HEAD
/api/v2.0/projects?project_name=P`` (200: it exists; 404: missing), then
``POST /api/v2.0/projects`` with ``{"project_name": P, "metadata":
{"public": "false"}}``; 201 and 409 (created meanwhile) both mean it exists.
The API is sent the registry's own credentials as Basic auth, only to the
registry's origin (a redirect elsewhere goes without them, see
:mod:`hangard.registry.transport`). A refusal is a
:class:`~hangard.errors.HarborProjectError` (reason ``harbor_project``) with
a remedy, remembered for the run so that each image into the project fails
alike without asking again.

Reads: a 401 from a Harbor registry for a project that does not exist means
"absent" (a ``HEAD`` gets a 404, anything else a
:class:`~hangard.errors.NotFoundError`), so a target not yet created plans
as missing rather than refused. A push refused because the project is a
proxy cache (Harbor: 403 ``can not push artifact to a proxy project``) says so.

"A run" is the client's life, or until :meth:`HarborProjects.new_run` (each
sync cycle calls it, so a daemon notices a project deleted meanwhile).
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Sequence
from urllib.parse import quote

import httpx
import structlog

from hangard.core.reference import Repository
from hangard.errors import (
    AuthError,
    ErrorContext,
    HarborProjectError,
    NotFoundError,
    RateLimitedError,
    RegistryError,
    ResponseError,
    ServerError,
)
from hangard.registry.access import RegistryAccess
from hangard.registry.auth import basic_header
from hangard.registry.options import HarborOptions
from hangard.registry.transport import Call

__all__ = ["API", "CREATE_REMEDY", "PROXY_CACHE_MARKER", "HarborProjects", "project_of"]

log = structlog.get_logger("hangard.registry.harbor")

API = "/api/v2.0"
#: What Harbor says when a push goes into a proxy-cache project.
PROXY_CACHE_MARKER = "proxy project"
CREATE_REMEDY = (
    "create the project in Harbor, or let the account create projects: a robot account "
    "needs the system-level permission to create projects, and Harbor's "
    "project_creation_restriction may allow only administrators"
)
_CREDENTIALS_REMEDY = (
    "hangard sends the registry's own credentials to Harbor's API as Basic auth: give the "
    "registry credentials of a Harbor user or robot account"
)
_NAME_REMEDY = (
    "Harbor project names are lower-case letters and digits, separated by single '.', '_' "
    "or '-': map the target into another project (its prefix or destination)"
)
_PROXY_REMEDY = (
    "Harbor refuses pushes into a proxy-cache project: push into an ordinary project "
    "(another target prefix or destination)"
)
#: Every answer to the ping is an answer (only 200 means Harbor): a registry
#: that is not Harbor may say anything about a path it does not serve.
_PINGED = range(100, 600)
_Key = tuple[str, str]


def project_of(repo: Repository) -> str | None:
    """The Harbor project of ``repo``: its first path component (``None``
    for a one-component path, which Harbor cannot hold)."""
    project, sep, _ = repo.path.partition("/")
    return project if sep else None


class _ApiExchange:
    """Harbor API calls: the registry's credentials as Basic auth, only to
    the registry's origin; every answer observed; no retry on 401."""

    def __init__(self, access: RegistryAccess, registry: str, *, auth: bool = True) -> None:
        self._access = access
        self._registry = registry
        self._origin = httpx.URL(access.base_url(registry)).netloc
        self._auth = auth
        self._sent = 0.0

    async def authorize(self, url: httpx.URL) -> str | None:
        header = await self._header(url)
        self._sent = self._access.now()
        return header

    async def _header(self, url: httpx.URL) -> str | None:
        if not self._auth or url.netloc != self._origin:
            return None
        creds = await self._access.credentials.alookup(self._registry)
        if creds is None or not creds.username or creds.password is None:
            return None
        return basic_header(creds)

    def observe(self, response: httpx.Response) -> None:
        self._access.observe(self._registry, response, self._access.now() - self._sent)

    async def refused(self, response: httpx.Response) -> bool:
        return False


class HarborProjects:
    """Per-run knowledge of which registries are Harbor and which of their
    projects exist, over the client's :class:`RegistryAccess`."""

    def __init__(self, access: RegistryAccess) -> None:
        self._access = access
        self._harbor: dict[str, bool] = {}
        self._exists: dict[_Key, bool] = {}
        self._refused: dict[_Key, HarborProjectError] = {}
        self._locks: dict[_Key | str, asyncio.Lock] = {}
        self.created: list[_Key] = []
        """``(registry, project)`` of each project this client created."""

    def new_run(self) -> None:
        """Forget what was learnt: the next push into each project checks again."""
        self._harbor.clear()
        self._exists.clear()
        self._refused.clear()

    def _options(self, registry: str) -> HarborOptions:
        return self._access.options.for_registry(registry).harbor

    # ------------------------------------------------------------ the client's calls

    async def read(self, repo: Repository, call: Call, scopes: Sequence[str]) -> httpx.Response:
        """A call that reads ``repo``; a missing Harbor project reads as absent."""
        try:
            return await self._access.request(call, scopes=scopes)
        except AuthError as exc:
            if exc.status != 401 or not await self.project_missing(repo):
                raise
            error = exc
        if 404 in call.ok:
            return httpx.Response(404, request=httpx.Request(call.method, call.url))
        raise NotFoundError(
            f"Harbor project {project_of(repo)} does not exist",
            error.context.merged(image=call.image),
            remedy="hangard creates it before the first push into it (harbor: create_projects)",
        ) from error

    async def write(self, repo: Repository, call: Call, scopes: Sequence[str]) -> httpx.Response:
        """A call that pushes into ``repo``: the project is made to exist first."""
        await self.ensure(repo)
        try:
            return await self._access.request(call, scopes=scopes)
        except ResponseError as exc:
            if exc.status not in (403, 405) or not _says_proxy(exc):
                raise
            error = exc
        raise HarborProjectError(
            f"Harbor project {project_of(repo)} is a proxy cache: Harbor refuses pushes into it",
            error.context.merged(image=call.image),
            remedy=_PROXY_REMEDY,
        ) from error

    # ------------------------------------------------------------ detection

    async def is_harbor(self, registry: str) -> bool:
        """Whether ``registry`` is Harbor: its ``harbor.create_projects``
        when a bool, else ``GET /api/v2.0/ping`` (unauthenticated) answering
        200, asked once per run."""
        mode = self._options(registry).create_projects
        if isinstance(mode, bool):
            return mode
        if registry in self._harbor:
            return self._harbor[registry]
        async with self._locks.setdefault(registry, asyncio.Lock()):
            if registry not in self._harbor:
                await self._access.ping(registry)
                call = Call(
                    registry,
                    "GET",
                    f"{self._access.base_url(registry)}{API}/ping",
                    ok=_PINGED,
                    what="Harbor ping answer",
                )
                response = await self._access.transport.send(
                    call, _ApiExchange(self._access, registry, auth=False)
                )
                found = response.status_code == 200
                log.debug("harbor detection", registry=registry, harbor=found)
                if response.status_code < 500:  # a failing server may be Harbor after all
                    self._harbor[registry] = found
                return found
        return self._harbor[registry]

    # ------------------------------------------------------------ projects

    async def ensure(self, repo: Repository) -> None:
        """Make ``repo``'s project exist, once per run (see the module docstring)."""
        project = project_of(repo)
        if project is None or self._options(repo.registry).create_projects is False:
            return
        key = (repo.registry, project)
        if self._exists.get(key) or not await self.is_harbor(repo.registry):
            return
        async with self._locks.setdefault(key, asyncio.Lock()):
            refused = self._refused.get(key)
            if refused is not None:
                raise copy.copy(refused)
            if self._exists.get(key):
                return
            try:
                if key not in self._exists:
                    self._exists[key] = await self._head(repo.registry, project)
                if not self._exists[key]:
                    await self._create(repo.registry, project)
                    self._exists[key] = True
            except HarborProjectError as exc:
                self._refused[key] = exc
                log.error(
                    "harbor project unavailable",
                    registry=repo.registry,
                    project=project,
                    reason=exc.reason.value,
                    message=exc.message,
                    hint=exc.remedy,
                )
                raise

    async def project_missing(self, repo: Repository) -> bool:
        """Whether ``repo``'s project is known, or found, not to exist on a Harbor."""
        project = project_of(repo)
        if project is None or self._options(repo.registry).create_projects is False:
            return False
        key = (repo.registry, project)
        if key in self._exists:
            return not self._exists[key]
        try:
            if not await self.is_harbor(repo.registry):
                return False
            async with self._locks.setdefault(key, asyncio.Lock()):
                if key not in self._exists:
                    self._exists[key] = await self._head(repo.registry, project)
        except RegistryError as exc:  # the read's own refusal says more
            log.debug("harbor project check failed", registry=repo.registry, error=str(exc))
            return False
        return not self._exists[key]

    async def _head(self, registry: str, project: str) -> bool:
        """``HEAD /api/v2.0/projects?project_name=P``: 200 exists, 404 missing."""
        url = f"{self._access.base_url(registry)}{API}/projects?project_name={quote(project)}"
        response = await self._api(registry, project, Call(registry, "HEAD", url, ok=(200, 404)))
        return response.status_code == 200

    async def _create(self, registry: str, project: str) -> None:
        """``POST /api/v2.0/projects``: 201 created, 409 created meanwhile."""
        public = self._options(registry).public
        body = {"project_name": project, "metadata": {"public": "true" if public else "false"}}
        call = Call(
            registry,
            "POST",
            f"{self._access.base_url(registry)}{API}/projects",
            headers={"Content-Type": "application/json"},
            content=json.dumps(body).encode(),
            ok=(201, 409),
        )
        response = await self._api(registry, project, call)
        if response.status_code == 201:
            self.created.append((registry, project))
        log.info(
            "harbor project created" if response.status_code == 201 else "harbor project exists",
            registry=registry,
            project=project,
            public=public,
        )

    async def _api(self, registry: str, project: str, call: Call) -> httpx.Response:
        """One API call; a refusal becomes a :class:`HarborProjectError`
        (5xx and 429 stay what they are: retrying later may cure them)."""
        await self._access.ping(registry)
        try:
            return await self._access.transport.send(call, _ApiExchange(self._access, registry))
        except (ServerError, RateLimitedError):
            raise
        except ResponseError as exc:
            raise _refusal(call, project, exc) from exc


def _refusal(call: Call, project: str, exc: ResponseError) -> HarborProjectError:
    doing = "create" if call.method == "POST" else "check"
    context = ErrorContext(
        registry=call.registry,
        method=call.method,
        url=str(httpx.URL(call.url).copy_with(query=None)),
        status=exc.status,
        code=exc.code,
        detail=exc.context.detail,
    )
    why = f": {exc.context.detail}" if exc.context.detail else ""
    remedies = {401: _CREDENTIALS_REMEDY, 400: _NAME_REMEDY}
    remedy = remedies.get(exc.status or 0, CREATE_REMEDY)
    return HarborProjectError(
        f"Harbor would not {doing} project {project}{why}", context, remedy=remedy
    )


def _says_proxy(exc: ResponseError) -> bool:
    texts = (exc.message, exc.context.detail or "")
    return any(PROXY_CACHE_MARKER in text for text in texts)
