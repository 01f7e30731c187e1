"""Tag-list pagination that always ends.

:func:`read_tag_pages` follows ``Link: <…>; rel="next"`` (resolved against
the request URL) until a page has none. A page seen before (compared on the
normalised URL, so the relative first URL and an absolute ``Link`` to it are
one page), more than :data:`MAX_TAG_PAGES` pages, more than :data:`MAX_TAGS`
tags, a ``Link`` that leaves the repository's tag list, or a page that is not
``{"tags": [strings]}`` is a :class:`~hangard.errors.RegistryError`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

from hangard.core.reference import Repository
from hangard.errors import ErrorContext, RegistryError

__all__ = ["MAX_TAGS", "MAX_TAG_PAGES", "read_tag_pages"]

MAX_TAG_PAGES = 10_000
MAX_TAGS = 1_000_000


async def read_tag_pages(
    repo: Repository, first: str, fetch: Callable[[str], Awaitable[httpx.Response]]
) -> list[str]:
    """Every tag of ``repo``; ``fetch(url)`` GETs a page (``first`` is a
    path under the repository, the next ones absolute URLs)."""
    url = first
    tags: list[str] = []
    seen: set[tuple[object, ...]] = set()
    pages = 0
    while True:
        pages += 1
        if pages > MAX_TAG_PAGES:
            raise _error(repo, f"more than {MAX_TAG_PAGES} pages")
        response = await fetch(url)
        here = response.request.url
        seen.add(_page_key(here))
        tags.extend(_tag_page(repo, response))
        if len(tags) > MAX_TAGS:
            raise _error(repo, f"more than {MAX_TAGS} tags")
        target = _next_link(response.headers.get("link", ""))
        if target is None:
            return tags
        following = here.join(target)
        if _page_key(following) in seen:
            raise _error(repo, f"pagination loops back to {following}")
        if (following.scheme, following.netloc, following.path) != (
            here.scheme,
            here.netloc,
            here.path,
        ):
            raise _error(repo, f"next page {following} is not this tag list")
        url = str(following)


def _tag_page(repo: Repository, response: httpx.Response) -> list[str]:
    try:
        doc = response.json()
    except ValueError:
        doc = None
    page = doc.get("tags") if isinstance(doc, dict) else ()
    if page is None:
        return []
    if not isinstance(page, list) or not all(isinstance(t, str) for t in page):
        raise _error(repo, 'a page is not {"tags": [strings]}')
    return page


def _error(repo: Repository, why: str) -> RegistryError:
    return RegistryError(
        f"tag list of {repo} cannot be read: {why}",
        ErrorContext(image=str(repo), registry=repo.registry, method="GET"),
    )


def _next_link(header: str) -> str | None:
    """The target of the ``rel="next"`` link in a ``Link`` header."""
    for part in header.split(","):
        target, *params = part.split(";")
        if any(p.strip().replace('"', "") == "rel=next" for p in params):
            return target.strip().strip("<>")
    return None


def _page_key(url: httpx.URL) -> tuple[object, ...]:
    """A page's URL, normalised: default port spelled out, query sorted."""
    port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    query = tuple(sorted(url.params.multi_items()))
    return (url.scheme, url.host, port, url.path, query)
