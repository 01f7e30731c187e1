"""The one place a request path under a repository is built: every call the
client makes goes to ``/v2/<repo>/...``, and nothing a registry sends (a
digest, a tag, a ``Location``) can make it leave that prefix."""

from __future__ import annotations

from urllib.parse import unquote

import httpx

from hangard.core.reference import Repository
from hangard.errors import ErrorContext, RegistryError

__all__ = ["location_url", "repo_path"]


def repo_path(repo: Repository, where: str) -> str:
    """``/v2/<repo>/<where>`` (an absolute URL the registry gave is kept);
    never a path outside ``/v2/<repo>/``, whatever a digest or tag holds."""
    if "://" in where:
        return where
    path = where.partition("?")[0]
    dots = any(unquote(s) in (".", "..") for s in path.split("/"))
    if path.startswith("/") or "\\" in path or dots:
        raise RegistryError(
            f"refusing to request {where!r}: it would leave /v2/{repo.path}/",
            ErrorContext(image=str(repo), registry=repo.registry),
        )
    return f"/v2/{repo.path}/{where}"


def location_url(request: httpx.URL, location: str) -> str:
    """The absolute URL a ``Location`` header names, relative to the request
    it answered. An absolute one is kept as the registry wrote it: parsing a
    URL costs httpx nearly a microsecond per character, and an upload's
    ``Location`` carries hundreds of characters of upload state, so joining
    it would parse it twice more before it is sent (where it is parsed, and
    checked, anyway)."""
    if location[:8].lower().startswith(("http://", "https://")):
        return location
    return str(request.join(location))
