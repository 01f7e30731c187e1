"""The per-item gauges (``hangard_image_*``, ``hangard_copy_consecutive_failures``,
``hangard_attachments_missing``): five or six series per (image, tag, target),
so 50,000 lines at 10,000 items.

They are kept here rather than as prometheus-client gauges: an item's state is
set every cycle, and prometheus-client's exposition formats each sample anew
on every scrape (a quarter of a second per 50,000 samples), where this keeps
every label set escaped once, every sample's value formatted once, and each
family's text until one of its values changes. In a no-change cycle only the
last-success timestamps move, so a scrape renders one family of six. The
output is the Prometheus text format, as
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


_IN_SYNC, _DRIFT, _MISSING, _LAST_SUCCESS, _FAILURES, _ATTACHMENTS = range(len(FAMILIES))


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
    """The item families: each label set's escaped labels, each family's
    formatted values and, until a value of it changes, its text."""

    def __init__(self) -> None:
        self._labels: dict[LabelKey, str] = {}
        self._values: tuple[dict[LabelKey, float], ...] = tuple({} for _ in FAMILIES)
        """Per family, each label set's value (a flag as 0 or 1); a label set
        is in the attachments family only once its attachments were checked."""
        self._text: list[str | None] = [None] * len(FAMILIES)

    def _label(self, key: LabelKey) -> None:
        if key not in self._labels:
            image, tag, target = (_escape(v) for v in key)
            self._labels[key] = f'{{image="{image}",tag="{tag}",target="{target}"}}'

    def _put(self, family: int, key: LabelKey, value: float) -> None:
        values = self._values[family]
        if values.get(key) != value:
            values[key] = value
            self._text[family] = None

    def set(self, key: LabelKey, state: ItemState) -> None:
        self._label(key)
        self._put(_IN_SYNC, key, state.in_sync)
        self._put(_DRIFT, key, state.drift)
        self._put(_MISSING, key, state.missing)
        if state.last_success is not None:  # else the gauge keeps its value
            self._put(_LAST_SUCCESS, key, state.last_success)
        self._put(_FAILURES, key, state.consecutive_failures)

    def set_attachments_missing(self, key: LabelKey, count: int) -> None:
        self._label(key)
        self._put(_ATTACHMENTS, key, count)

    def keep_only(self, keep: Iterable[LabelKey]) -> None:
        """Drop the label sets not in ``keep``."""
        wanted = set(keep)
        for key in [k for k in self._labels if k not in wanted]:
            del self._labels[key]
            for family, values in enumerate(self._values):
                if values.pop(key, None) is not None:
                    self._text[family] = None

    def keys(self) -> list[LabelKey]:
        return list(self._values[_IN_SYNC])

    def render(self) -> str:
        """The families in the text exposition format."""
        for family, (name, help_text) in enumerate(FAMILIES):
            if self._text[family] is None:
                labels = self._labels
                head = f"# HELP {name} {help_text}\n# TYPE {name} gauge\n"
                values = self._values[family].items()
                lines = [f"{name}{labels[k]} {float(v)!r}\n" for k, v in values]
                self._text[family] = head + "".join(lines)
        return "".join(t for t in self._text if t is not None)
