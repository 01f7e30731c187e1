#!/usr/bin/env python3
"""Benchmark: start-up. ``hangard sync --once`` against ``skopeo sync`` on the
small jobs cron and CI run, where start-up dominates:

* ``--version``: hangard alone (goal ≤ 0.1 s wall);
* a 1-image config (one single-platform image, one tag), warm: nothing to
  copy (goal ≤ 0.25 s wall);
* a 4-repository catalog (the catalog of ``bench/sync_vs_skopeo.py``: 3-platform
  indexes of 4 layers), cold (an empty target) and warm (goal: warm ≥ 1×
  skopeo).

Tools alternate, run by run. Prints each workload's median wall time and
spread (min–max), the ratio skopeo/hangard, then where hangard's time went:
its imports (``python -X importtime``: total, and the heaviest packages)
against the whole run, and the CPU of tool and registries. Loopback only.

    .venv/bin/python bench/startup.py --runs 7
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from _common import ROOT, Timing, bench_env, fresh_target, sync_commands, timed, workspace
from sync_vs_skopeo import seed_catalog

from tests.harness import images
from tests.harness.registry import Registry

TOOLS = ("hangard", "skopeo")


def _configs(work: Path, src: Registry, dst: Registry, names: dict[str, list[str]]) -> None:
    """A hangard config and a skopeo sync file per workload."""
    for workload, repos in names.items():
        (work / f"{workload}.yaml").write_text(
            json.dumps(
                {
                    "registries": {src.host: {"http": True}, dst.host: {"http": True}},
                    "defaults": {"targets": ["bench"]},
                    "targets": {"bench": {"registry": dst.host, "prefix": "hangard"}},
                    "images": [{"source": f"{src.host}/{n}", "tags": ["v1"]} for n in repos],
                },
                indent=1,
            )
        )
        (work / f"{workload}.skopeo.yaml").write_text(
            json.dumps({src.host: {"tls-verify": False, "images": {n: ["v1"] for n in repos}}})
        )


def _commands(work: Path, dst: Registry, workload: str) -> dict[str, list[str]]:
    yaml = work / f"{workload}.yaml"
    return sync_commands(yaml, work / f"{workload}.skopeo.yaml", dst.host, work)


def _alternate(runs: int, run: Callable[[str], Timing]) -> dict[str, list[Timing]]:
    """``runs`` rounds, the tools' order swapped every round."""
    out: dict[str, list[Timing]] = {t: [] for t in TOOLS}
    for r in range(runs):
        for tool in TOOLS if r % 2 == 0 else TOOLS[::-1]:
            out[tool].append(run(tool))
    return out


def _stats(runs: list[Timing]) -> tuple[float, float, float]:
    walls = [t.seconds for t in runs]
    return statistics.median(walls), min(walls), max(walls)


def _report(name: str, runs: dict[str, list[Timing]], goal: str) -> None:
    (h, h_lo, h_hi), (s, s_lo, s_hi) = _stats(runs["hangard"]), _stats(runs["skopeo"])
    h_cpu = statistics.median(t.cpu_seconds for t in runs["hangard"])
    s_cpu = statistics.median(t.cpu_seconds for t in runs["skopeo"])
    print(
        f"{name:22s} hangard {h:5.3f}s ({h_lo:.3f}–{h_hi:.3f}, cpu {h_cpu:.3f}s)  "
        f"skopeo {s:5.3f}s ({s_lo:.3f}–{s_hi:.3f}, cpu {s_cpu:.3f}s)  "
        f"skopeo/hangard = {s / h:4.2f}x  {goal}",
        flush=True,
    )


def import_profile(cmd: list[str], env: dict[str, str]) -> tuple[float, float, Counter[str]]:
    """One run under ``python -X importtime``: the run's wall time, the
    imports' total self time, and that time per top-level package (hangard
    split by subpackage). importtime's own overhead inflates both a little."""
    python = str(ROOT / ".venv" / "bin" / "python")
    run = [python, "-X", "importtime", "-m", "hangard", *cmd[1:]]
    start = time.perf_counter()
    proc = subprocess.run(run, env=env, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    per: Counter[str] = Counter()
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _cumulative, name = line[len("import time:") :].split("|")
        parts = name.strip().split(".")
        per[".".join(parts[:2]) if parts[0] == "hangard" else parts[0]] += int(self_us)
    return wall, sum(per.values()) / 1e6, per


def _where(cmd: list[str], env: dict[str, str], label: str, top: int, runs: int) -> None:
    walls, imports, per = [], [], Counter[str]()
    for _ in range(runs):
        wall, total, packages = import_profile(cmd, env)
        walls.append(wall)
        imports.append(total)
        per.update(packages)
    wall, total = statistics.median(walls), statistics.median(imports)
    heaviest = ", ".join(f"{k} {v / runs / 1e3:.0f}" for k, v in per.most_common(top))
    print(
        f"  {label}: imports {total:.3f}s of {wall:.3f}s wall under -X importtime "
        f"({total / wall:.0%}); the rest is set-up, requests and exit\n"
        f"    heaviest (ms, self time): {heaviest}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--layer-kib", type=int, default=256)
    parser.add_argument("--top", type=int, default=12, help="packages to list in the import split")
    parser.add_argument("--import-runs", type=int, default=3, help="runs under -X importtime")
    args = parser.parse_args()

    with workspace("hangard-bench-startup-") as (work, src, dst):
        env = bench_env(work, HANGARD_STATE_DIR=str(work / "state"))
        print("seeding a 1-image config and a 4-repository catalog …", flush=True)
        images.push_image(src, "bench/one", images.build_image(1), "v1")
        names = {"one": ["bench/one"], "four": seed_catalog(src, 4, args.layer_kib)}
        _configs(work, src, dst, names)
        one, four = _commands(work, dst, "one"), _commands(work, dst, "four")
        for cmds in (one, four):  # the warm runs below find every target in place
            for tool in TOOLS:
                timed(cmds[tool], env)

        version = {"hangard": [one["hangard"][0], "--version"], "skopeo": ["skopeo", "--version"]}
        _report(
            "--version",
            _alternate(args.runs, lambda t: timed(version[t], env)),
            "(goal: hangard <= 0.1 s)",
        )
        _report(
            "1 image, warm",
            _alternate(args.runs, lambda t: timed(one[t], env, watch=(src, dst))),
            "(goal: hangard <= 0.25 s)",
        )
        warm = _alternate(args.runs, lambda t: timed(four[t], env, watch=(src, dst)))
        _report("4 repositories, warm", warm, "(goal: >= 1x)")

        def cold(tool: str) -> Timing:
            fresh_target(dst, work)
            shutil.rmtree(work / "state", ignore_errors=True)
            return timed(four[tool], env, watch=(src, dst))

        _report("4 repositories, cold", _alternate(max(1, args.runs // 2), cold), "")

        print(f"\nwhere hangard's time went (median of {args.import_runs} runs):", flush=True)
        timed(four["hangard"], env)  # warm again after the cold runs
        _where(version["hangard"], env, "--version", args.top, args.import_runs)
        _where(one["hangard"], env, "1 image, warm", args.top, args.import_runs)
        _where(four["hangard"], env, "4 repositories, warm", args.top, args.import_runs)
        h = statistics.median(t.registry_cpu_seconds for t in warm["hangard"])
        s = statistics.median(t.registry_cpu_seconds for t in warm["skopeo"])
        print(f"  registries' CPU per warm 4-repository run: hangard's {h:.3f}s, skopeo's {s:.3f}s")


if __name__ == "__main__":
    main()
