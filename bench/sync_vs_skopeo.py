#!/usr/bin/env python3
"""Benchmark: ``hangard sync --once`` against ``skopeo sync`` on one catalog.

Generates a catalog on a local source registry: N repositories (default 50),
each a 3-platform OCI index whose images have 4 layers, the bottom one shared
by every image. Then, alternating the tools:

* cold: an empty target (the target registry is wiped before each run);
* warm: the same command again, nothing changed.

Prints whole-process wall times and the ratios skopeo/hangard (issue 14's
goals: cold ≥ 2.5×, warm ≥ 6× on loopback; ≥ 8× and ≥ 30× over a 20 ms round
trip), with the spread of the alternating pairs, then where the time goes:
each run's CPU time in the tool and in the registries, and the wall-time
floor that CPU work sets on this machine's cores. Only loopback registries are used.

With ``--rtt-ms N`` both tools reach each registry through a
:class:`~latency.LatencyProxy` that delays every chunk by N/2 ms each way
(keeping bandwidth), as over a WAN link with an N ms round trip.

    .venv/bin/python bench/sync_vs_skopeo.py --repos 50 --runs 3
    .venv/bin/python bench/sync_vs_skopeo.py --repos 30 --runs 3 --rtt-ms 20
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from _common import (  # first: ROOT on sys.path
    ROOT,
    Timing,
    bench_env,
    fresh_target,
    sync_commands,
    timed,
    workspace,
)
from latency import LatencyProxy

from tests.harness import images
from tests.harness.registry import Registry

PLATFORMS = (("linux", "amd64", None), ("linux", "arm64", "v8"), ("linux", "arm", "v7"))


def seed_catalog(registry: Registry, repos: int, layer_kib: int) -> list[str]:
    """Push the catalog; return the repository names."""
    base = images.make_layer(10_000, files=1, file_size=layer_kib * 1024)
    names = []
    with images.RegistryClient(registry) as client:
        client.push_blob("bench/base", base.data)
        for r in range(repos):
            name = f"bench/app-{r:03d}"
            children = []
            for p, (os_, arch, variant) in enumerate(PLATFORMS):
                layers = [base] + [
                    images.make_layer(r * 100 + p * 10 + i, files=1, file_size=layer_kib * 1024)
                    for i in range(3)
                ]
                config = images.make_config(
                    layers, architecture=arch, os=os_, variant=variant, seed=r
                )
                raw, media_type = images.build_manifest(config, layers)
                image = images.Image(
                    raw,
                    media_type,
                    config,
                    list(layers),
                    platform=images._platform(os_, arch, variant),
                )
                images.push_image(registry, name, image, client=client)
                children.append(image)
            index: dict[str, Any] = {
                "schemaVersion": 2,
                "mediaType": images.OCI_INDEX,
                "manifests": [c.descriptor() for c in children],
            }
            client.put_manifest(name, "v1", images._dump(index), images.OCI_INDEX)
            names.append(name)
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repos", type=int, default=50)
    parser.add_argument("--layer-kib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--rtt-ms",
        type=float,
        default=0.0,
        help="reach both registries through a proxy adding this round trip (half each way)",
    )
    parser.add_argument(
        "--max-concurrency",
        type=int,
        help="hangard's requests in flight per registry (the registries' max_concurrency); "
        "default: hangard's own",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        help="hangard's copies in flight (HANGARD_CONCURRENCY); default: hangard's own",
    )
    parser.add_argument(
        "--tools", default="hangard,skopeo", help="comma-separated tools to run (ratios need both)"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="also profile one cold and one warm hangard run with pyinstrument "
        "(pip install -e '.[bench]'); writes DIR/{cold,warm}.{txt,html}",
    )
    args = parser.parse_args()

    with workspace("hangard-bench-sync-") as (work, src, dst), contextlib.ExitStack() as links:
        extra = {"HANGARD_CONCURRENCY": str(args.concurrency)} if args.concurrency else {}
        env = bench_env(work, HANGARD_STATE_DIR=str(work / "state"), **extra)
        print(f"seeding {args.repos} repositories × 3 platforms × 4 layers …", flush=True)
        names = seed_catalog(src, args.repos, args.layer_kib)
        # the hosts the tools are given: the registries, or proxies before them
        src_host, dst_host = src.host, dst.host
        if args.rtt_ms > 0:
            one_way = args.rtt_ms / 2000
            src_host = links.enter_context(LatencyProxy(_address(src), one_way)).host
            dst_host = links.enter_context(LatencyProxy(_address(dst), one_way)).host
            print(f"both registries behind a {args.rtt_ms:g} ms round trip", flush=True)

        config = work / "hangard.yaml"
        registry: dict[str, Any] = {"http": True}
        if args.max_concurrency:
            registry["max_concurrency"] = args.max_concurrency
        config.write_text(
            json.dumps(
                {
                    "registries": {src_host: registry, dst_host: registry},
                    "defaults": {"targets": ["bench"]},
                    "targets": {"bench": {"registry": dst_host, "prefix": "hangard"}},
                    "images": [{"source": f"{src_host}/{n}", "tags": ["v1"]} for n in names],
                },
                indent=1,
            )
        )
        skopeo_src = work / "skopeo.yaml"
        skopeo_src.write_text(
            json.dumps(
                {src_host: {"tls-verify": False, "images": {n: ["v1"] for n in names}}}, indent=1
            )
        )
        commands = sync_commands(config, skopeo_src, dst_host, work)
        tools = [t for t in ("hangard", "skopeo") if t in args.tools.split(",")]
        cold: dict[str, list[Timing]] = {t: [] for t in tools}
        warm: dict[str, list[Timing]] = {t: [] for t in tools}
        for run in range(args.runs):
            for tool in tools if run % 2 == 0 else tools[::-1]:
                fresh_target(dst, work)
                shutil.rmtree(work / "state", ignore_errors=True)
                c = timed(commands[tool], env, watch=(src, dst))
                w = timed(commands[tool], env, watch=(src, dst))
                cold[tool].append(c)
                warm[tool].append(w)
                print(f"run {run + 1} {tool:8s} cold {_line(c)}   warm {_line(w)}", flush=True)
        if args.profile:
            _profile(args.profile, commands["hangard"][1:], env, dst, work)
        _summary(cold, warm, GOALS_WAN if args.rtt_ms > 0 else GOALS_LOOPBACK)


#: skopeo/hangard wall-time goals (cold, warm) of issue 14
GOALS_LOOPBACK = (2.5, 6.0)
GOALS_WAN = (8.0, 30.0)


def _summary(
    cold: dict[str, list[Timing]], warm: dict[str, list[Timing]], goals: tuple[float, float]
) -> None:
    """Ratios of the medians, with the spread of the runs' pairs (run i of
    one tool against run i of the other), then where the time goes: tools and
    registries share this machine's cores, so no tool can finish faster than
    all the CPU work its run caused (its own plus the registries'), spread
    over every core."""
    print()
    for name, goal, runs in (("cold", goals[0], cold), ("warm", goals[1], warm)):
        if set(runs) != {"hangard", "skopeo"}:
            continue
        h, s = _median(runs["hangard"]), _median(runs["skopeo"])
        pairs = [
            b.seconds / a.seconds for a, b in zip(runs["hangard"], runs["skopeo"], strict=True)
        ]
        print(
            f"{name}: hangard {h.seconds:.2f}s, skopeo {s.seconds:.2f}s -> "
            f"skopeo/hangard = {s.seconds / h.seconds:.2f}x (goal >= {goal:g}x; "
            f"pairs {min(pairs):.2f}-{max(pairs):.2f}x); "
            f"hangard/skopeo CPU = {h.cpu_seconds / s.cpu_seconds:.2f}"
        )
    cores = os.cpu_count() or 1
    print(f"\nCPU seconds per run (median), {cores} cores shared by tool and registries:")
    for name, runs in (("cold", cold), ("warm", warm)):
        for tool, timings in runs.items():
            t = _median(timings)
            floor = (t.cpu_seconds + t.registry_cpu_seconds) / cores
            print(
                f"  {name} {tool:8s} tool {t.cpu_seconds:5.2f}  registries "
                f"{t.registry_cpu_seconds:5.2f}  -> wall floor {floor:5.2f}s, "
                f"measured {t.seconds:5.2f}s"
            )


def _profile(
    out: Path, hangard_args: list[str], env: dict[str, str], dst: Registry, work: Path
) -> None:
    """One cold and one warm hangard run under pyinstrument: a session file
    per run, rendered as text (the call tree) and HTML (to click through)."""
    out.mkdir(parents=True, exist_ok=True)
    fresh_target(dst, work)
    shutil.rmtree(work / "state", ignore_errors=True)
    pyinstrument = [str(ROOT / ".venv" / "bin" / "python"), "-m", "pyinstrument"]
    for name in ("cold", "warm"):
        session = out / f"{name}.pyisession"
        run = [*pyinstrument, "-i", "0.0005", "-r", "pyisession", "-o", str(session)]
        subprocess.run([*run, "-m", "hangard", *hangard_args], env=env, check=True)
        for renderer, suffix in (("text", "txt"), ("html", "html")):
            rendered = str(out / f"{name}.{suffix}")
            load = [*pyinstrument, "--load", str(session), "-r", renderer, "-o", rendered]
            subprocess.run(load, check=True)
        print(f"profile of a {name} run: {out / name}.txt and .html", flush=True)


def _address(registry: Registry) -> tuple[str, int]:
    host, _, port = registry.host.rpartition(":")
    return host, int(port)


def _line(t: Timing) -> str:
    return f"{t.seconds:6.2f}s (cpu: tool {t.cpu_seconds:5.2f}s, registries {t.registry_cpu_seconds:5.2f}s)"


def _median(runs: list[Timing]) -> Timing:
    """The run with the median wall time."""
    return sorted(runs, key=lambda t: t.seconds)[len(runs) // 2]


if __name__ == "__main__":
    main()
