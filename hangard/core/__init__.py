"""The pure core: values and decisions, no I/O.

Nothing under ``hangard.core`` may import httpx, asyncio, apscheduler or do
file or network I/O; ``tests/test_core_purity.py`` enforces it.
"""
