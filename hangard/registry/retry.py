"""When to retry a registry call, and how long to wait first.

Pure: the one backoff formula of hangard (exponential with full jitter,
capped) and the reading of ``Retry-After`` (seconds or an HTTP date, capped).
The loop that applies them is :meth:`hangard.registry.transport.Transport.send`;
the copy engine's blob restarts use the same :func:`retry_delay`.
"""

from __future__ import annotations

import email.utils
import random
from collections.abc import Callable

import httpx

__all__ = ["MAX_RETRY_AFTER", "RETRY_STATUSES", "backoff", "retry_after", "retry_delay"]

#: Answers worth sending again: the server may well say yes next time.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
#: The longest ``Retry-After`` honoured, in seconds: a server asking for
#: hours would stall a sync cycle that is better failed and retried later.
MAX_RETRY_AFTER = 120.0


def backoff(
    attempt: int, *, base: float, cap: float, rng: Callable[[], float] = random.random
) -> float:
    """Exponential backoff with full jitter before retry number ``attempt``
    (1-based): uniform in ``[0, min(cap, base * 2**(attempt-1))]``. Full
    jitter spreads clients that failed together (a 503 storm) the most."""
    ceiling = min(cap, base * (2 ** (attempt - 1)))
    return float(rng() * ceiling)


def retry_after(response: httpx.Response | None, *, now: float) -> float | None:
    """The wait a ``Retry-After`` header asks for, capped at
    :data:`MAX_RETRY_AFTER`; ``None`` when absent or unreadable. ``now`` is
    the wall-clock time (seconds since the epoch) an HTTP date is read against."""
    if response is None:
        return None
    header = response.headers.get("retry-after", "").strip()
    if not header:
        return None
    if header.isdigit():
        return min(float(header), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(header).timestamp()
    except (TypeError, ValueError):
        return None
    return min(max(0.0, when - now), MAX_RETRY_AFTER)


def retry_delay(
    attempt: int,
    response: httpx.Response | None,
    *,
    base: float,
    cap: float,
    now: float,
    rng: Callable[[], float] = random.random,
) -> float:
    """Delay before retry number ``attempt``: ``Retry-After`` when the server
    gave one, else :func:`backoff`."""
    asked = retry_after(response, now=now)
    if asked is not None:
        return asked
    return backoff(attempt, base=base, cap=cap, rng=rng)
