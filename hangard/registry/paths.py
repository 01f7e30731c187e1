"""The one place a request path under a repository is built: every call the
client makes goes to ``/v2/<repo>/...``, and nothing a registry sends (a
digest, a tag, a ``Location``) can make it leave that prefix."""

from __future__ import annotations

from urllib.parse import unquote

from hangard.core.reference import Repository
from hangard.errors import ErrorContext, RegistryError

__all__ = ["repo_path"]


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
