"""How much hangard does at once, by default.

``MAX_CONCURRENCY``: requests in flight to one registry (every kind, blob
streams included; a registry's ``max_concurrency``). ``CONCURRENCY``: copies
in flight over all registries (the process's ``concurrency``,
``HANGARD_CONCURRENCY``), which also caps every ``max_concurrency``.

Both are 12, chosen with ``bench/sync_vs_skopeo.py --repos 30 --tools hangard
--max-concurrency N --concurrency N`` on 2026-12-02 (README "Concurrency over
a slow link"): over a 20 ms round trip a cold sync took 8.8–9.3 s at 12
against 10.6–11.1 s at 8, and on loopback 8.3–8.7 s against 8.6–9.2 s, where
16 was as quick over the link but 6 % slower on loopback (the registries
burning more CPU). A registry far away is the one to raise further.
"""

from __future__ import annotations

__all__ = ["CONCURRENCY", "MAX_CONCURRENCY"]

MAX_CONCURRENCY = 12
CONCURRENCY = 12
