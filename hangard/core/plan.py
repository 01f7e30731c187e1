"""The plan: desired state plus observed digests in, one action per item
out. Pure and printable.

The steps around it do the I/O: :func:`pattern_repositories` says which
source repositories need a tag list (the caller fetches them); :func:`expand`
makes the :class:`SyncItem` values (both from :mod:`hangard.core.items`,
exported here too: this module is the pipeline's surface); the caller
observes digests (manifest ``HEAD``\\ s) into :class:`Observation` values;
:func:`make_plan` decides.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

from hangard.core.attachments import AttachmentState
from hangard.core.items import (
    ExpansionProblem,
    ItemKey,
    LabelKey,
    SyncItem,
    expand,
    pattern_repositories,
)
from hangard.core.plandeletion import PlanDeletion
from hangard.core.reference import short_digest
from hangard.errors import ErrorContext, HangardError, NotFoundError, OperationError, Reason

__all__ = [
    "Action",
    "ActionKind",
    "ExpansionProblem",
    "ItemKey",
    "LabelKey",
    "Observation",
    "Plan",
    "PlanStatus",
    "SyncItem",
    "expand",
    "make_plan",
    "pattern_repositories",
    "short_digest",
]


@dataclass(frozen=True)
class Observation:
    """What the registries said about one item."""

    source_digest: str | None = None
    """``None``: the source tag does not exist."""
    target_digest: str | None = None
    """``None``: the target tag does not exist."""
    desired_digest: str | None = None
    """The digest the target should have when it differs from the source's
    (a platform subset); ``None`` means the source digest."""
    platforms_match: bool | None = None
    """For a platform subset whose digest differs: whether every selected
    platform's manifest digest matches on the target."""
    no_platform: bool = False
    error: HangardError | None = None
    """Why the item could not be observed."""
    attachments: AttachmentState | None = None

    @property
    def reason(self) -> Reason | None:
        """The failure reason of ``error``, if any."""
        return None if self.error is None else self.error.reason


class ActionKind(StrEnum):
    IN_SYNC = "in-sync"
    COPY = "copy"
    SKIP = "skip"
    ERROR = "error"
    DELETE = "delete"  # prune: a tag hangard wrote that is no longer selected


class PlanStatus(IntEnum):
    """A whole plan in one word; the values are ``plan --detailed-exitcode``'s
    exit codes, as terraform's."""

    IN_SYNC = 0
    ERRORS = 1
    PENDING = 2
    """Copies (or prune deletions) are pending: a target is missing or has drifted."""


@dataclass(frozen=True)
class Action:
    item: SyncItem | ExpansionProblem
    kind: ActionKind
    cause: str = ""
    """Why this action: ``missing``, ``drift``, ``source missing``, ``no
    matching platform``, or for ``error`` actions the error's text."""
    source_digest: str | None = None
    target_digest: str | None = None
    desired_digest: str | None = None
    error: HangardError | None = field(default=None, compare=False)
    """For ``error`` actions: what went wrong (``cause`` holds its text, and
    what plans compare: exceptions compare by identity)."""
    attachments: AttachmentState | None = None

    @property
    def key(self) -> ItemKey:
        return self.item.key

    @property
    def reason(self) -> Reason | None:
        """For ``error`` actions: the failure reason (the metrics label)."""
        if self.kind is not ActionKind.ERROR:
            return None
        return Reason.OTHER if self.error is None else self.error.reason

    def describe(self) -> str:
        if self.kind is ActionKind.IN_SYNC:
            return "in-sync"
        if self.kind is ActionKind.COPY and self.cause == "drift":
            # a platform subset is compared with the index hangard writes, not the source's
            subset = self.desired_digest not in (None, self.source_digest)
            wanted = "desired (platform subset)" if subset else "source"
            return (
                f"copy (drift: target {short_digest(self.target_digest)} "
                f"≠ {wanted} {short_digest(self.desired_digest or self.source_digest)})"
            )
        note = self.attachments.note if self.attachments and self.kind is ActionKind.COPY else ""
        return f"{self.kind.value} ({self.cause}{'; ' + note if note else ''})"

    def as_dict(self) -> dict[str, object]:
        item = self.item
        out: dict[str, object] = {
            "image": item.image,
            "tag": item.key[1],
            "target": item.target,
            "action": self.kind.value,
            "cause": self.cause,
            "reason": self.reason.value if self.reason else None,
            "source_digest": self.source_digest,
            "target_digest": self.target_digest,
            "desired_digest": self.desired_digest or self.source_digest,
        }
        if isinstance(item, SyncItem):
            out["source"] = str(item.source)
            out["destination"] = str(item.destination)
            out["platforms"] = [str(p) for p in item.platforms]
        return out


def decide(item: SyncItem, obs: Observation) -> Action:
    if obs.error is not None:
        return Action(
            item,
            ActionKind.ERROR,
            str(obs.error),
            obs.source_digest,
            obs.target_digest,
            error=obs.error,
        )
    if obs.source_digest is None and item.explicit:
        # the config names this tag: its absence is a failure to alert on
        missing = NotFoundError(
            f"source {item.source} not found",
            ErrorContext(image=str(item.source)),
            remedy="fix the tag in the config, or remove it",
        )
        return Action(
            item, ActionKind.ERROR, missing.message, None, obs.target_digest, error=missing
        )
    if obs.source_digest is None:  # a pattern-selected tag that vanished since listing
        return Action(item, ActionKind.SKIP, "source missing", None, obs.target_digest)
    if obs.no_platform:
        return Action(
            item, ActionKind.SKIP, "no matching platform", obs.source_digest, obs.target_digest
        )
    want = obs.desired_digest or obs.source_digest
    digests = (obs.source_digest, obs.target_digest, obs.desired_digest)
    attached = obs.attachments
    if obs.target_digest == want or (obs.target_digest and obs.platforms_match):
        if attached and attached.missing:
            cause = f"attachments: {len(attached.missing)} missing"
            return Action(item, ActionKind.COPY, cause, *digests, attachments=attached)
        return Action(item, ActionKind.IN_SYNC, "", *digests, attachments=attached)
    cause = "missing" if obs.target_digest is None else "drift"
    return Action(item, ActionKind.COPY, cause, *digests, attachments=attached)


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...] = field(default_factory=tuple)
    deletions: tuple[PlanDeletion, ...] = field(default_factory=tuple)
    notes: tuple[str, ...] = field(default_factory=tuple)  # the prune step's remarks

    @property
    def summary(self) -> dict[str, int]:
        counts = Counter([a.kind.value for a in self.actions] + ["delete"] * len(self.deletions))
        return {kind.value: counts.get(kind.value, 0) for kind in ActionKind}

    @property
    def status(self) -> PlanStatus:
        """Errors win over pending copies; skips count as in sync."""
        summary = self.summary
        if summary["error"]:
            return PlanStatus.ERRORS
        return PlanStatus.PENDING if summary["copy"] or summary["delete"] else PlanStatus.IN_SYNC

    def render(self) -> str:
        lines = []
        for action in self.actions:
            item = action.item
            what = f"{item.image}:{item.key[1]}"
            where = str(item.destination) if isinstance(item, SyncItem) else item.target
            lines.append(f"{what}  ->  {where}  [{item.target}]  {action.describe()}")
        lines += [d.render() for d in self.deletions] + [f"note: {n}" for n in self.notes]
        s, n = self.summary, len(self.deletions)
        lines.append(
            f"plan: {len(self.actions)} items: {s['in-sync']} in sync, {s['copy']} to copy, "
            f"{s['skip']} skipped, {s['error']} errors{f', {n} to delete' if n else ''}"
        )
        return "\n".join(lines)

    def to_json(self) -> str:
        doc = {
            "version": 1,
            "actions": [a.as_dict() for a in self.actions] + [d.as_dict() for d in self.deletions],
            "notes": list(self.notes),
            "summary": self.summary,
        }
        return json.dumps(doc, indent=2, sort_keys=True)


def make_plan(
    items: Iterable[SyncItem],
    observations: Mapping[ItemKey, Observation],
    errors: Iterable[ExpansionProblem] = (),
) -> Plan:
    """One action per item (and per expansion error), sorted by key."""
    actions = [
        decide(
            item, observations.get(item.key) or Observation(error=OperationError("not observed"))
        )
        for item in items
    ]
    actions += [Action(err, ActionKind.ERROR, err.message, error=err.error) for err in errors]
    return Plan(tuple(sorted(actions, key=lambda a: a.key)))
