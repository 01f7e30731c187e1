"""Schedules: how often a desired-state entry is synced. A schedule is an
interval (``15m``, ``1h30m``) or a five-field cron expression (UTC). Pure:
the daemon turns each distinct schedule into a trigger."""

from __future__ import annotations

import re

__all__ = ["DEFAULT_SCHEDULE", "MIN_INTERVAL", "check_schedule", "parse_interval"]

_INTERVAL_PART = re.compile(r"(\d+)(ms|s|m|h|d|w)")
_INTERVAL_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
DEFAULT_SCHEDULE = "15m"
MIN_INTERVAL = 10.0


def parse_interval(text: str) -> float | None:
    """Seconds for an interval like ``15m`` or ``1h30m``; ``None`` if not one."""
    compact = text.replace(" ", "")
    if not compact:
        return None
    pos, total = 0, 0.0
    while pos < len(compact):
        m = _INTERVAL_PART.match(compact, pos)
        if not m:
            return None
        total += int(m.group(1)) * _INTERVAL_UNITS[m.group(2)]
        pos = m.end()
    return total


def check_schedule(value: str) -> str:
    """``value`` stripped, if it is an interval of at least
    :data:`MIN_INTERVAL` or has the five fields of a cron expression (the
    config loader checks the fields themselves); ``ValueError`` if not."""
    value = value.strip()
    seconds = parse_interval(value)
    if seconds is not None:
        if seconds < MIN_INTERVAL:
            raise ValueError(f"interval {value!r} is shorter than {MIN_INTERVAL:g}s")
        return value
    if len(value.split()) != 5:
        raise ValueError(
            f"schedule {value!r} is neither an interval (like 15m, 1h30m) "
            "nor a 5-field cron expression (like '0 */6 * * *')"
        )
    return value
