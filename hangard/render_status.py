"""``hangard status`` as text: the daemon's ``/status`` document rendered as
tables for a terminal. Pure string building; the document is the daemon's
(:meth:`hangard.daemon.Daemon.status`)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

__all__ = ["STATES", "failing_only", "item_state", "render_status"]

#: an item's state, worst first (the order the table lists them in)
STATES = ("failing", "drifted", "missing", "pending", "in sync")


def item_state(item: dict[str, Any]) -> str:
    """``failing`` when its last attempt failed (whatever the target holds),
    else ``drifted``, ``missing``, ``in sync``, or ``pending`` (not yet
    observed)."""
    if item.get("last_error_reason"):
        return "failing"
    if item.get("drift"):
        return "drifted"
    if item.get("missing"):
        return "missing"
    return "in sync" if item.get("in_sync") else "pending"


def failing_only(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with only its failing items."""
    return {**doc, "items": [i for i in doc["items"] if item_state(i) == "failing"]}


def render_status(doc: dict[str, Any], *, url: str, now: float | None = None) -> str:
    """The daemon line, the schedules table, a count of items per state, the
    items table (worst first) and, for each failing item, its last error."""
    now = time.time() if now is None else now
    items = sorted(doc.get("items", []), key=lambda i: (STATES.index(item_state(i)), _name(i)))
    lines = [_daemon_line(doc, url), ""]
    lines += _schedules(doc.get("schedules", []), now)
    counts = Counter(item_state(i) for i in items)
    lines += ["", f"{len(items)} items: " + ", ".join(f"{counts[s]} {s}" for s in STATES)]
    if items:
        rows = [
            [
                item_state(i),
                _name(i),
                i.get("target", ""),
                _when(i.get("last_success"), now),
                str(i.get("consecutive_failures", 0)),
                i.get("last_error_reason") or "-",
            ]
            for i in items
        ]
        header = ["STATE", "IMAGE:TAG", "TARGET", "LAST SUCCESS", "FAILURES", "REASON"]
        lines += ["", *_table(header, rows)]
    errors = [i for i in items if item_state(i) == "failing"]
    if errors:
        lines += ["", "last errors:"]
        for i in errors:
            lines.append(f"  {_name(i)} → {i.get('target', '')}: {i.get('last_error') or '?'}")
    return "\n".join(lines)


def _daemon_line(doc: dict[str, Any], url: str) -> str:
    ready = "ready" if doc.get("ready") else "not ready (first cycle not done)"
    line = (
        f"hangard {doc.get('version', '?')} at {url}: {ready}; "
        f"config {doc.get('config', '?')} (generation {doc.get('config_generation')})"
    )
    if doc.get("last_reload_successful") is False:
        line += "\nlast config reload REJECTED: " + "; ".join(doc.get("last_reload_errors", []))
    return line


def _schedules(schedules: Sequence[dict[str, Any]], now: float) -> list[str]:
    if not schedules:
        return ["no schedules (no config loaded)"]
    rows = []
    for s in schedules:
        duration = s.get("last_cycle_duration_seconds")
        rows.append(
            [
                s["schedule"],
                _when(s.get("last_cycle_finished_at"), now),
                s.get("last_cycle_result") or "-",
                "-" if duration is None else f"{duration:.1f}s",
                _when(s.get("last_good_cycle"), now),
                "running now" if s.get("running") else _when(s.get("next_run"), now),
            ]
        )
    header = ["SCHEDULE", "LAST CYCLE", "RESULT", "DURATION", "LAST GOOD CYCLE", "NEXT RUN"]
    return _table(header, rows)


def _name(item: dict[str, Any]) -> str:
    return f"{item.get('image', '?')}:{item.get('tag', '?')}"


def _when(epoch: float | None, now: float) -> str:
    """``2026-12-01 14:20:01Z (4m ago)`` or ``... (in 11m)``; ``-`` for none."""
    if epoch is None:
        return "-"
    stamp = datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    delta = epoch - now
    return f"{stamp} ({_ago(-delta)} ago)" if delta <= 0 else f"{stamp} (in {_ago(delta)})"


def _ago(seconds: float) -> str:
    seconds = round(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
