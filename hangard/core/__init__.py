"""The pure core: references, media types, platforms, manifests, the
desired-state schema, schedules, tag rules, and the plan; values and
decisions only.

Nothing under ``hangard.core`` may import httpx, asyncio, apscheduler or do
file or network I/O; ``tests/test_core_purity.py`` enforces it.
"""

__all__: list[str] = []
