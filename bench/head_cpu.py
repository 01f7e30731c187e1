#!/usr/bin/env python3
"""Benchmark: CPU per manifest HEAD, in process, through hangard's whole
registry client (access, auth, limiter, retries, transport) against a local
registry.

Pushes one image, warms the connections up, then sends ``--heads`` manifest
HEADs with ``--in-flight`` of them at once and divides this process's CPU
time (user + system) by the count. The registry's CPU is reported beside it:
on a shared machine the two compete. Goal: at most 0.5 ms per HEAD.

    .venv/bin/python bench/head_cpu.py --heads 5000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Coroutine
from typing import Any

from _common import process_cpu_seconds, workspace  # first: ROOT on sys.path

from hangard import aio
from hangard.core.reference import parse_reference
from hangard.registry.client import RegistryClient
from hangard.registry.options import ClientOptions, RegistryOptions
from tests.harness import images

GOAL_MS = 0.5


async def _heads(host: str, count: int, in_flight: int) -> tuple[float, float]:
    """Wall and CPU seconds of ``count`` HEADs (after a warm-up)."""
    options = ClientOptions(
        registries={host: RegistryOptions(http=True, max_concurrency=in_flight)}
    )
    ref = parse_reference(f"{host}/bench/head:v1")
    async with RegistryClient(options) as client:
        queue = iter(range(count))

        async def worker() -> None:
            for _ in queue:
                descriptor = await client.head_manifest(ref)
                assert descriptor is not None

        await asyncio.gather(*(client.head_manifest(ref) for _ in range(in_flight * 2)))
        wall, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(in_flight)))
        return time.perf_counter() - wall, time.process_time() - cpu


def _run(coro: Coroutine[Any, Any, tuple[float, float]], loop: str) -> tuple[float, float]:
    if loop == "asyncio":
        os.environ[aio.ENV] = "asyncio"
    return aio.run(coro)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--heads", type=int, default=5000)
    parser.add_argument("--in-flight", type=int, default=16)
    parser.add_argument(
        "--loop",
        choices=("hangard", "asyncio"),
        default="hangard",
        help="the event loop: hangard's (uvloop's, see hangard/aio.py), or asyncio's own",
    )
    args = parser.parse_args()
    with workspace("hangard-bench-head-") as (_work, src, _dst):
        images.push_image(src, "bench/head", images.build_image(1), tag="v1")
        assert src.proc is not None
        registry_cpu = process_cpu_seconds(src.proc.pid)
        heads = _heads(src.host, args.heads, args.in_flight)
        wall, cpu = _run(heads, args.loop)
        registry_cpu = process_cpu_seconds(src.proc.pid) - registry_cpu
    per_head = cpu / args.heads * 1000
    print(
        f"{args.heads} HEADs, {args.in_flight} in flight, {aio.loop_name()} loop: "
        f"{wall:.2f}s wall, {cpu:.2f}s CPU"
    )
    print(f"hangard CPU per HEAD: {per_head:.3f} ms (goal <= {GOAL_MS} ms)")
    print(f"registry CPU per HEAD: {registry_cpu / args.heads * 1000:.3f} ms")
    print(f"ratio goal/hangard: {GOAL_MS / per_head:.2f}x")


if __name__ == "__main__":
    main()
