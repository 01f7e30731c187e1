"""What a plan needs of a prune deletion (:class:`hangard.core.prune.Deletion`,
which depends on the plan): a line to print and a JSON object. Pure."""

from __future__ import annotations

from typing import Protocol

__all__ = ["PlanDeletion"]


class PlanDeletion(Protocol):
    """A row of :attr:`hangard.core.plan.Plan.deletions`."""

    def render(self) -> str: ...
    def as_dict(self) -> dict[str, object]: ...
