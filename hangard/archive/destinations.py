"""Where ``load`` pushes each archived image: pure decisions.

The destination is a :class:`~hangard.core.desired.Target`, either a
desired-state file's (``--config FILE --target NAME``: its mapping and
prefix apply) or one built from ``--to REGISTRY[/PREFIX]`` (``keep``: the
archived path under the prefix). On top of either:

* ``--project P`` (Hangar's): the first path segment of the archived name
  is replaced by ``P`` (``docker.io/library/nginx`` → ``P/nginx``; a
  one-segment path gains it: ``app`` → ``P/app``), before the mapping;
* a Hangar list line ``SOURCE DEST TAG`` selects ``SOURCE:TAG`` and puts it
  at ``DEST`` (a path that replaces the mapping, as in a desired state).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from pydantic import ValidationError

from hangard.core.attachments import is_attachment_tag
from hangard.core.desired import DesiredState, ImageEntry, ListLine, Target
from hangard.core.policy import Requirement, Trust, entry_keys
from hangard.core.reference import ImageReference, Repository, parse_path, parse_reference
from hangard.errors import InputError

__all__ = [
    "LoadItem",
    "destination_for",
    "parse_to",
    "select",
    "verify_keys_for",
    "with_project",
    "with_requirements",
]


@dataclass(frozen=True)
class LoadItem:
    """One archived image to load, and where it goes."""

    name: ImageReference
    """Its repository and tag in the archive."""
    destination: ImageReference
    requirements: tuple[Requirement, ...] = field(default=(), compare=False)
    """What the signature policy wants of it, checked with the signatures
    the archive holds before it is loaded (empty: nothing)."""


def verify_keys_for(state: DesiredState, name: ImageReference) -> tuple[str, ...]:
    """The ``verify.keys`` an archived image needs when loaded with
    ``--config``: those of the first entry whose source is its repository,
    else the defaults'."""
    for entry in state.images:
        if isinstance(entry, ImageEntry) and parse_reference(entry.source).name == name.name:
            return entry_keys(entry.verify, state.defaults.verify)
    return entry_keys(None, state.defaults.verify)


def with_requirements(
    items: Iterable[LoadItem], trust: Trust, state: DesiredState | None = None
) -> list[LoadItem]:
    """``items`` with what the policy (and, with a desired state, the
    ``verify.keys`` of :func:`verify_keys_for`) wants of each image; an
    attachment (a cosign or fallback tag) needs nothing itself."""
    out = []
    for item in items:
        if is_attachment_tag(item.name.tag or ""):
            out.append(item)
            continue
        keys = verify_keys_for(state, item.name) if state is not None else ()
        out.append(replace(item, requirements=trust.requirements(item.name, keys)))
    return out


def parse_to(text: str) -> Target:
    """``REGISTRY[/PREFIX]`` (``--to``) as a ``keep`` target."""
    if "://" in text:
        raise InputError(f"--to {text!r}: give REGISTRY[/PREFIX], without a scheme")
    host, _, prefix = text.strip().strip("/").partition("/")
    try:
        return Target(registry=host, prefix=prefix)
    except ValidationError as exc:
        why = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise InputError(
            f"--to {text!r}: {why}", remedy="give REGISTRY[/PREFIX], like localhost:5000/mirror"
        ) from None


def with_project(repo: Repository, project: str) -> Repository:
    """``repo`` with its first path segment replaced by ``project`` (Hangar's
    ``--project``); a one-segment path gains it."""
    parse_path(project, what="project")
    rest = repo.path.split("/", 1)[-1]
    return Repository(repo.registry, f"{project}/{rest}")


def destination_for(
    name: ImageReference,
    target: Target,
    *,
    project: str | None = None,
    rename: str | None = None,
) -> ImageReference:
    """Where the archived ``name`` goes on ``target``."""
    repo = name.repository
    if project:
        repo = with_project(repo, project)
    tag = name.tag or "latest"
    return target.repository_for(repo, rename).tag(tag)


def select(
    names: Sequence[ImageReference],
    target: Target,
    *,
    lines: Iterable[ListLine] | None = None,
    project: str | None = None,
) -> tuple[list[LoadItem], list[ListLine]]:
    """What to load: every archived image, or those a list names; and the
    list lines the archive does not hold."""
    if lines is None:
        return [LoadItem(n, destination_for(n, target, project=project)) for n in names], []
    held = {(n.repository, n.tag): n for n in names}
    chosen: list[LoadItem] = []
    missing: list[ListLine] = []
    for line in lines:
        repo = parse_reference(line.source).repository
        found = held.get((repo, line.tag))
        if found is None:
            missing.append(line)
            continue
        dest = destination_for(found, target, project=project, rename=line.destination)
        chosen.append(LoadItem(found, dest))
    return chosen, missing
