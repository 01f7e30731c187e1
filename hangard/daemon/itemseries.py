"""The per-item gauges (``hangard_image_*``, ``hangard_copy_consecutive_failures``,
``hangard_attachments_missing``): five or six series per (image, tag, target),
so 50,000 lines at 10,000 items.

They are kept here rather than as prometheus-client gauges: an item's state is
set every cycle, and prometheus-client's exposition formats each sample anew
on every scrape (a quarter of a second per 50,000 samples), where this keeps
every label set escaped once and renders the families with one pass of string
formatting. The output is the Prometheus text format, as
:func:`prometheus_client.generate_latest` writes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["ItemSeries", "ItemState"]

LabelKey = tuple[str, str, str]

#: (name, help) of each family, in the order they are rendered
FAMILIES = (
    (
        "hangard_image_in_sync",
        "1 when the target has the desired digest, else 0 (drifted or missing)",
    ),
    ("hangard_image_drift", "1 when the target tag exists with a different digest"),
    ("hangard_image_missing", "1 when the target tag does not exist"),
    (
        "hangard_image_last_success_timestamp_seconds",
        "When the item was last seen in sync or copied",
    ),
    ("hangard_copy_consecutive_failures", "Failures in a row for the item; 0 after a success"),
    (
        "hangard_attachments_missing",
        "Attachments (signatures, attestations, SBOMs) the source has and the target lacks",
    ),
)


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


@dataclass(frozen=True)
class ItemState:
    """One label set's values (see :func:`hangard.daemon.recorder.export_item`)."""

    in_sync: bool
    drift: bool
    missing: bool
    last_success: float | None
    consecutive_failures: int


class ItemSeries:
    """The item families: each label set's state and its escaped labels."""

    def __init__(self) -> None:
        self._states: dict[LabelKey, ItemState] = {}
        self._labels: dict[LabelKey, str] = {}
        self._attachments: dict[LabelKey, int] = {}
        """Missing attachments, for the label sets whose attachments were checked."""

    def _label(self, key: LabelKey) -> None:
        if key not in self._labels:
            image, tag, target = (_escape(v) for v in key)
            self._labels[key] = f'{{image="{image}",tag="{tag}",target="{target}"}}'

    def set(self, key: LabelKey, state: ItemState) -> None:
        self._label(key)
        old = self._states.get(key)
        if state.last_success is None and old is not None and old.last_success is not None:
            state = ItemState(
                **{**vars(state), "last_success": old.last_success}
            )  # a gauge keeps its value
        self._states[key] = state

    def set_attachments_missing(self, key: LabelKey, count: int) -> None:
        self._label(key)
        self._attachments[key] = count

    def keep_only(self, keep: Iterable[LabelKey]) -> None:
        """Drop the label sets not in ``keep``."""
        wanted = set(keep)
        for key in [k for k in self._labels if k not in wanted]:
            self._states.pop(key, None)
            self._attachments.pop(key, None)
            del self._labels[key]

    def keys(self) -> list[LabelKey]:
        return list(self._states)

    def render(self) -> str:
        """The families in the text exposition format."""
        rows = [(self._labels[k], s) for k, s in self._states.items()]
        flag = ("0.0", "1.0")
        columns = (
            [f"{labels} {flag[s.in_sync]}" for labels, s in rows],
            [f"{labels} {flag[s.drift]}" for labels, s in rows],
            [f"{labels} {flag[s.missing]}" for labels, s in rows],
            [
                f"{labels} {float(s.last_success)!r}"
                for labels, s in rows
                if s.last_success is not None
            ],
            [f"{labels} {float(s.consecutive_failures)!r}" for labels, s in rows],
            [f"{self._labels[k]} {float(n)!r}" for k, n in self._attachments.items()],
        )
        out = []
        for (name, help_text), lines in zip(FAMILIES, columns, strict=True):
            out.append(f"# HELP {name} {help_text}\n# TYPE {name} gauge\n")
            if lines:
                out.append(name + f"\n{name}".join(lines) + "\n")
        return "".join(out)
