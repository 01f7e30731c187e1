#!/usr/bin/env python3
"""Benchmark: CPU per manifest HEAD, in process, through hangard's whole
registry client (access, auth, limiter, retries, transport) against a local
registry.

Pushes one image, warms the connections up, then sends ``--heads`` manifest
HEADs with ``--in-flight`` of them at once and divides this process's CPU
time (user + system) by the count. The registry's CPU is reported beside it:
on a shared machine the two compete. Goal: at most 0.5 ms per HEAD.

``--tls`` serves the registry over TLS (a throwaway CA). ``--http2`` (implies
``--tls``; needs ``h2``, in the bench extra) also sends the same HEADs through
httpx's own transport, once with HTTP/2 (one multiplexed connection) and once
with HTTP/1.1: issue 14's HTTP/2 lever, measured against hangard's transport
on the same registry.

    .venv/bin/python bench/head_cpu.py --heads 5000
    .venv/bin/python bench/head_cpu.py --heads 2000 --http2
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from _common import process_cpu_seconds, workspace  # first: ROOT on sys.path

from hangard import aio
from hangard.core import mediatypes as mt
from hangard.core.reference import parse_reference
from hangard.registry.client import RegistryClient
from hangard.registry.options import ClientOptions, RegistryOptions
from tests.harness import images
from tests.harness.registry import Registry, make_tls_registry

GOAL_MS = 0.5
#: (label, wall seconds, CPU seconds) of each way of sending the HEADs
Result = tuple[str, float, float]


async def _drive(
    head: Callable[[], Awaitable[None]], count: int, in_flight: int
) -> tuple[float, float]:
    """Wall and CPU seconds of ``count`` calls of ``head``, ``in_flight`` at
    once, after a warm-up that opens the connections."""
    queue = iter(range(count))

    async def worker() -> None:
        for _ in queue:
            await head()

    await asyncio.gather(*(head() for _ in range(in_flight * 2)))
    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return time.perf_counter() - wall, time.process_time() - cpu


async def _hangard(registry: Registry, count: int, in_flight: int) -> Result:
    opts = RegistryOptions(
        http=not registry.tls, ca_file=registry.ca_file, max_concurrency=in_flight
    )
    ref = parse_reference(f"{registry.host}/bench/head:v1")
    async with RegistryClient(ClientOptions(registries={registry.host: opts})) as client:

        async def head() -> None:
            assert await client.head_manifest(ref) is not None

        return ("hangard", *await _drive(head, count, in_flight))


async def _httpx(registry: Registry, count: int, in_flight: int, http2: bool) -> Result:
    """The same HEADs through httpx's own transport (httpcore, h2 for HTTP/2)."""
    url = f"{registry.url}/v2/bench/head/manifests/v1"
    versions: set[str] = set()
    limits = httpx.Limits(max_connections=in_flight)
    async with httpx.AsyncClient(http2=http2, verify=registry.verify, limits=limits) as client:

        async def head() -> None:
            response = await client.head(url, headers={"Accept": mt.MANIFEST_ACCEPT})
            assert response.status_code == 200
            versions.add(response.http_version)

        wall, cpu = await _drive(head, count, in_flight)
    return (f"httpx's transport, {'/'.join(sorted(versions))}", wall, cpu)


async def _all(registry: Registry, args: argparse.Namespace) -> list[Result]:
    results = [await _hangard(registry, args.heads, args.in_flight)]
    if args.http2:
        for http2 in (True, False):
            results.append(await _httpx(registry, args.heads, args.in_flight, http2))
    return results


def _run(coro: Coroutine[Any, Any, list[Result]], loop: str) -> list[Result]:
    if loop == "asyncio":
        os.environ[aio.ENV] = "asyncio"
    return aio.run(coro)


@contextmanager
def _registry(tls: bool) -> Iterator[Registry]:
    """The registry the HEADs go to: plain HTTP, or TLS with a throwaway CA."""
    if not tls:
        with workspace("hangard-bench-head-") as (_work, src, _dst):
            yield src
        return
    with (
        tempfile.TemporaryDirectory(prefix="hangard-bench-head-") as work,
        make_tls_registry(Path(work) / "registry") as registry,
    ):
        yield registry


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
    parser.add_argument("--tls", action="store_true", help="serve the registry over TLS")
    parser.add_argument(
        "--http2",
        action="store_true",
        help="with --tls: also through httpx's own transport, HTTP/2 and HTTP/1.1",
    )
    args = parser.parse_args()
    with _registry(args.tls or args.http2) as registry:
        images.push_image(registry, "bench/head", images.build_image(1), tag="v1")
        assert registry.proc is not None
        registry_cpu = process_cpu_seconds(registry.proc.pid)
        results = _run(_all(registry, args), args.loop)
        registry_cpu = process_cpu_seconds(registry.proc.pid) - registry_cpu
    scheme = "TLS" if registry.tls else "plain HTTP"
    for label, wall, cpu in results:
        print(
            f"{label}: {args.heads} HEADs over {scheme}, {args.in_flight} in flight, "
            f"{aio.loop_name()} loop: {wall:.2f}s wall, {cpu:.2f}s CPU, "
            f"{cpu / args.heads * 1000:.3f} ms per HEAD"
        )
    per_head = results[0][2] / args.heads * 1000
    print(f"hangard CPU per HEAD: {per_head:.3f} ms (goal <= {GOAL_MS} ms)")
    sent = args.heads * len(results)
    print(f"registry CPU per HEAD: {registry_cpu / sent * 1000:.3f} ms")
    print(f"ratio goal/hangard: {GOAL_MS / per_head:.2f}x")


if __name__ == "__main__":
    main()
