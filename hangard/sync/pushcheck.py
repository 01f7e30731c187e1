"""Whether targets accept pushes, without pushing anything: an upload is
opened and cancelled in each repository (``validate --online``).

A repository whose Harbor project does not exist yet is not probed (the
probe would create the project): hangard creates it before the first push,
and the check says so."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from hangard.core.reference import Repository
from hangard.errors import HangardError
from hangard.registry.client import RegistryClient
from hangard.registry.harbor import project_of

__all__ = ["PushCheck", "check_pushes"]


class PushCheck(NamedTuple):
    """One repository's answer: the error that refused the push, or ``None``;
    ``note`` says what was not checked."""

    repository: Repository
    refused: HangardError | None
    note: str | None = None


async def check_pushes(client: RegistryClient, repos: Iterable[Repository]) -> list[PushCheck]:
    """Each repository (sorted) with the error that refused the push, or ``None``."""
    results: list[PushCheck] = []
    for repo in sorted(repos):
        try:
            if await client.harbor.project_missing(repo):
                note = (
                    f"Harbor project {project_of(repo)} does not exist yet; hangard creates it "
                    "before the first push (whether the account may create projects is not checked)"
                )
                results.append(PushCheck(repo, None, note))
                continue
            location = await client.start_upload(repo)
            await client.cancel_upload(repo, location)
        except HangardError as exc:
            results.append(PushCheck(repo, exc))
        else:
            results.append(PushCheck(repo, None))
    return results
