#!/usr/bin/env python3
"""Benchmark: copy one big single-layer image between two local registries,
with hangard and with ``skopeo copy --preserve-digests``, alternating runs.

Prints each run's wall time, the median ratio hangard/skopeo, and hangard's
peak RSS. Only loopback registries are used; the data is generated here.

    .venv/bin/python bench/copy_big.py --size-mib 1024 --runs 3
"""

from __future__ import annotations

import argparse
import shutil
import statistics

from _common import ROOT, bench_env, fresh_target, timed, workspace  # first: ROOT on sys.path

from tests.harness import images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    hangard = shutil.which("hangard", path=str(ROOT / ".venv" / "bin")) or "hangard"
    with workspace("hangard-bench-") as (work, src, dst):
        env = bench_env(work)
        size = args.size_mib << 20
        print(f"seeding a {args.size_mib} MiB single-layer image …", flush=True)
        images.push_big_image(src, "bench/big", "v1", size, seed=7)
        source = f"docker://{src.host}/bench/big:v1"
        times: dict[str, list[float]] = {"hangard": [], "skopeo": []}
        rss: list[int] = []
        for run in range(args.runs):
            order = ["hangard", "skopeo"] if run % 2 == 0 else ["skopeo", "hangard"]
            for tool in order:
                fresh_target(dst, work)
                target = f"docker://{dst.host}/bench/{tool}-{run}:v1"
                if tool == "hangard":
                    cmd = [
                        hangard,
                        "--log-level",
                        "warning",
                        "copy",
                        source,
                        target,
                        "--src-plain-http",
                        "--dest-plain-http",
                        "--no-progress",
                    ]
                else:
                    cmd = [
                        "skopeo",
                        "copy",
                        "--preserve-digests",
                        "--src-tls-verify=false",
                        "--dest-tls-verify=false",
                        "-q",
                        source,
                        target,
                    ]
                seconds, peak, *_ = timed(cmd, env)
                times[tool].append(seconds)
                if tool == "hangard":
                    rss.append(peak)
                print(
                    f"run {run + 1} {tool:8s} {seconds:7.2f}s  peak RSS {peak / 1024:6.1f} MiB",
                    flush=True,
                )
        h, s = statistics.median(times["hangard"]), statistics.median(times["skopeo"])
        print(f"\nmedian wall time: hangard {h:.2f}s, skopeo {s:.2f}s")
        print(f"ratio hangard/skopeo: {h / s:.2f}x  (goal <= 1.15x)")
        print(f"hangard peak RSS: {max(rss) / 1024:.1f} MiB  (goal < 100 MiB)")
        print(f"throughput hangard: {args.size_mib / h:.0f} MiB/s")


if __name__ == "__main__":
    main()
