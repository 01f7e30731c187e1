"""Re-checking, within a budget, the attachments already copied.

Cosign re-signs an image by rewriting its ``.sig`` tag in place (and
re-attests by rewriting ``.att``): the source's tag list still shows the
same tags, and only a ``HEAD`` on each tag (or, where the source has the
referrers API, a ``GET`` of a subject's referrers) sees the new digest.
Doing that for every attachment every cycle costs a request per attachment,
and an index signed per child has many.

So the observation remembers, per source repository, what each attachment
tag's digest was and in which cycle it was last looked at (and, for the
referrers API, which referrers a subject had). Each cycle it may re-check
``budget`` of those it remembers (one per image-target), the least recently
checked first: :func:`choose_rechecks`. Each is then re-checked within
``ceil(remembered / budget)`` cycles. What it does not remember (a tag new
in the tag list, or not yet copied to a target) and the attachments of an
image that is to be copied are always looked at, outside the budget.
Pure: the memory is data; the state dir persists it
(:class:`hangard.sync.digestcache.DigestCache`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = ["AttachmentMemory", "CheckKey", "Referrer", "choose_rechecks"]

CheckKey = tuple[str, str]
"""``(source repository, attachment tag)``, or ``(source repository,
subject digest)`` for a referrers ``GET`` (a digest has a ``:``, which no
tag has)."""

Referrer = tuple[str, str]
"""``(digest, artifact type)`` of one referrer the source's API listed."""


@dataclass
class AttachmentMemory:
    """What the source had, per repository, and when it was last checked
    (a cycle number, counted by :meth:`next_cycle`)."""

    cycle: int = 0
    tags: dict[str, dict[str, tuple[str, int]]] = field(default_factory=dict)
    """Repository → {attachment tag: (its digest, cycle last checked)}."""
    referrers: dict[str, dict[str, tuple[tuple[Referrer, ...], int]]] = field(default_factory=dict)
    """Repository → {subject digest: (its referrers, cycle last checked)}."""
    changed: bool = False
    """Whether what is saved of it changed since it was loaded or saved."""

    def next_cycle(self) -> None:
        """A new cycle, whose checks are stamped with it. Not a change by
        itself: the count is saved with the first stamp that uses it, so a
        saved count is never below a saved stamp, and a cycle that checks
        nothing leaves the state dir as it was."""
        self.cycle += 1

    def tag(self, repo: str, tag: str) -> str | None:
        """The digest ``tag`` had when last checked."""
        seen = self.tags.get(repo, {}).get(tag)
        return seen[0] if seen is not None else None

    def subject(self, repo: str, subject: str) -> tuple[Referrer, ...] | None:
        """The referrers ``subject`` had when last asked."""
        seen = self.referrers.get(repo, {}).get(subject)
        return seen[0] if seen is not None else None

    def last_checked(self, key: CheckKey) -> int | None:
        repo, name = key
        seen = (self.referrers if ":" in name else self.tags).get(repo, {}).get(name)
        return seen[1] if seen is not None else None

    def saw_tag(self, repo: str, tag: str, digest: str | None) -> None:
        """``tag`` was looked at now: it has ``digest`` (``None``: gone)."""
        known = self.tags.setdefault(repo, {})
        if digest is None:
            self.changed |= known.pop(tag, None) is not None
        elif known.get(tag) != (digest, self.cycle):
            known[tag] = (digest, self.cycle)
            self.changed = True

    def saw_referrers(self, repo: str, subject: str, listed: Iterable[Referrer]) -> None:
        known = self.referrers.setdefault(repo, {})
        seen = (tuple(listed), self.cycle)
        if known.get(subject) != seen:
            known[subject] = seen
            self.changed = True

    def keep_listed(self, repo: str, tags: Iterable[str]) -> None:
        """Forget the tags of ``repo`` that its tag list no longer has."""
        known = self.tags.get(repo)
        if not known:
            return
        listed = set(tags)
        for tag in [t for t in known if t not in listed]:
            del known[tag]
            self.changed = True


def choose_rechecks(candidates: Mapping[CheckKey, int], budget: int) -> frozenset[CheckKey]:
    """The ``budget`` least recently checked of ``candidates`` (key → cycle
    last checked); ties go by key, so the choice is deterministic."""
    if budget <= 0:
        return frozenset()
    ordered = sorted(candidates, key=lambda k: (candidates[k], k))
    return frozenset(ordered[:budget])
