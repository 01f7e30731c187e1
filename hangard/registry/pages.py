"""``Link: <…>; rel="next"`` pagination that always ends (OCI distribution
spec; RFC 5988 links), for every paged list hangard reads: tag lists
(:func:`read_tag_pages`) and referrers lists
(:mod:`hangard.registry.referrers`).

:func:`read_pages` follows ``rel="next"`` (resolved against the request URL)
until a page has none. A page seen before (compared on the normalised URL,
so the relative first URL and an absolute ``Link`` to it are one page), more
pages or more entries than the caller's caps, or a ``Link`` that leaves the
list (another scheme, host, port or path: another registry or repository,
to which no request and so no credential is sent) is a
:class:`~hangard.errors.RegistryError`, as is a page its parser refuses.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx

from hangard.core.reference import Repository
from hangard.errors import ErrorContext, RegistryError

__all__ = ["MAX_TAGS", "MAX_TAG_PAGES", "read_pages", "read_tag_pages"]

MAX_TAG_PAGES = 10_000
MAX_TAGS = 1_000_000

T = TypeVar("T")


class _PageError(ValueError):
    """A parser's refusal of a page; ``why`` ends up in the list's error."""


async def read_pages(
    start: httpx.Response,
    fetch: Callable[[str], Awaitable[httpx.Response]],
    parse: Callable[[httpx.Response], list[T]],
    *,
    max_pages: int,
    max_items: int,
    error: Callable[[str], RegistryError],
    what: str = "list",
    noun: str = "entries",
) -> list[T]:
    """Every entry of a paged list: ``start`` is its first page (fetched),
    ``fetch(url)`` GETs a following one (an absolute URL on the same
    origin and path), ``parse`` gives a page's entries (or raises
    ``_PageError``, in this module); ``error(why)`` builds the error of a list that
    cannot be read, ``what`` and ``noun`` name the list and its entries."""
    response = start
    entries: list[T] = []
    seen: set[tuple[object, ...]] = set()
    pages = 1
    while True:
        here = response.request.url
        seen.add(_page_key(here))
        try:
            entries.extend(parse(response))
        except _PageError as exc:
            raise error(str(exc)) from None
        if len(entries) > max_items:
            raise error(f"more than {max_items} {noun}")
        target = _next_link(response.headers.get("link", ""))
        if target is None:
            return entries
        following = here.join(target)
        if _page_key(following) in seen:
            raise error(f"pagination loops back to {following}")
        if (following.scheme, following.netloc, following.path) != (
            here.scheme,
            here.netloc,
            here.path,
        ):
            raise error(f"next page {following} is not this {what} (another registry or path)")
        if pages >= max_pages:
            raise error(f"more than {max_pages} pages")
        response = await fetch(str(following))
        pages += 1


async def read_tag_pages(
    repo: Repository, first: str, fetch: Callable[[str], Awaitable[httpx.Response]]
) -> list[str]:
    """Every tag of ``repo``; ``fetch(url)`` GETs a page (``first`` is a
    path under the repository, the next ones absolute URLs)."""

    def error(why: str) -> RegistryError:
        return RegistryError(
            f"tag list of {repo} cannot be read: {why}",
            ErrorContext(image=str(repo), registry=repo.registry, method="GET"),
        )

    return await read_pages(
        await fetch(first),
        fetch,
        _tag_page,
        max_pages=MAX_TAG_PAGES,
        max_items=MAX_TAGS,
        error=error,
        what="tag list",
        noun="tags",
    )


def _tag_page(response: httpx.Response) -> list[str]:
    try:
        doc = response.json()
    except ValueError:
        doc = None
    page = doc.get("tags") if isinstance(doc, dict) else ()
    if page is None:
        return []
    if not isinstance(page, list) or not all(isinstance(t, str) for t in page):
        raise _PageError('a page is not {"tags": [strings]}')
    return page


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
