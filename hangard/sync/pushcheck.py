"""Whether targets accept pushes, without pushing anything: an upload is
opened and cancelled in each repository (``validate --online``)."""

from __future__ import annotations

from collections.abc import Iterable

from hangard.core.reference import Repository
from hangard.errors import HangardError
from hangard.registry.client import RegistryClient

__all__ = ["check_pushes"]


async def check_pushes(
    client: RegistryClient, repos: Iterable[Repository]
) -> list[tuple[Repository, HangardError | None]]:
    """Each repository (sorted) with the error that refused the push, or ``None``."""
    results: list[tuple[Repository, HangardError | None]] = []
    for repo in sorted(repos):
        try:
            location = await client.start_upload(repo)
            await client.cancel_upload(repo, location)
        except HangardError as exc:
            results.append((repo, exc))
        else:
            results.append((repo, None))
    return results
