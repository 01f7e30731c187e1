#!/usr/bin/env python3
"""Benchmark: ``hangard save`` / ``load`` through a Hangar zip archive
against ``skopeo copy`` to and from an OCI layout (``oci:DIR:TAG``, one
layout shared by every image, so blobs are stored once there too).

Two workloads, each saved from a local source registry and loaded into an
emptied target registry, alternating the tools run by run:

* the sync benchmark's catalog (``bench/sync_vs_skopeo.py``: N repositories
  of 3-platform OCI indexes, 4 layers each, the bottom one shared);
* one image with a single 1 GiB layer.

skopeo copies one image per process (it has no multi-image save into one
archive), run one after another in one shell. Prints the medians, the
ratios skopeo/hangard (above 1: hangard is faster), and where the time went:
each tool's CPU, the registries' CPU, and hangard's peak RSS. Loopback only.

    .venv/bin/python bench/archive.py --repos 20 --big-mib 1024 --runs 3
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
from pathlib import Path

from _common import (  # first: ROOT on sys.path
    ROOT,
    Timing,
    bench_env,
    fresh_target,
    timed,
    workspace,
)
from sync_vs_skopeo import seed_catalog

from tests.harness import images
from tests.harness.registry import Registry

TOOLS = ("hangard", "skopeo")


def _commands(
    work: Path, src: Registry, dst: Registry, names: list[str], label: str
) -> dict[str, tuple[list[str], list[str]]]:
    """(save, load) command of each tool for ``names`` (repositories, tag v1)."""
    hangard = str(ROOT / ".venv" / "bin" / "hangard")
    listing = work / f"{label}.txt"
    listing.write_text("".join(f"{src.host}/{n}:v1\n" for n in names))
    archive, layout = work / f"{label}.zip", work / f"{label}-oci"
    quiet = [hangard, "--log-level", "warning"]
    h_save = [*quiet, "save", "--list", str(listing), "-o", str(archive), "--plain-http",
              "--no-progress"]  # fmt: skip
    h_load = [*quiet, "load", str(archive), "--to", f"{dst.host}/hangard", "--plain-http",
              "--no-progress"]  # fmt: skip
    copy = ["skopeo", "copy", "--all", "--preserve-digests", "-q"]
    saves = [
        [*copy, "--src-tls-verify=false", f"docker://{src.host}/{n}:v1", f"oci:{layout}:{_tag(n)}"]
        for n in names
    ]
    loads = [
        [*copy, "--dest-tls-verify=false", f"oci:{layout}:{_tag(n)}",
         f"docker://{dst.host}/skopeo/{n}:v1"]
        for n in names
    ]  # fmt: skip
    return {
        "hangard": (h_save, h_load),
        "skopeo": (_shell(saves), _shell(loads)),
    }


def _tag(name: str) -> str:
    return name.replace("/", "-")


def _shell(commands: list[list[str]]) -> list[str]:
    return ["sh", "-ec", " && ".join(shlex.join(c) for c in commands)]


def _clean(work: Path, label: str) -> None:
    for path in (work / f"{label}.zip", work / f"{label}.zip.partial"):
        path.unlink(missing_ok=True)
    shutil.rmtree(work / f"{label}-oci", ignore_errors=True)


def _bench(
    work: Path,
    src: Registry,
    dst: Registry,
    names: list[str],
    *,
    label: str,
    runs: int,
    profile: Path | None = None,
) -> None:
    env = bench_env(work, HANGARD_STATE_DIR=str(work / "state"))
    commands = _commands(work, src, dst, names, label)
    if profile is not None:
        _profile(profile / label, commands["hangard"], env, dst, work, label=label)
    if runs < 1:
        return
    saved: dict[str, list[Timing]] = {t: [] for t in TOOLS}
    loaded: dict[str, list[Timing]] = {t: [] for t in TOOLS}
    for run in range(runs):
        for tool in TOOLS if run % 2 == 0 else TOOLS[::-1]:
            _clean(work, label)
            save, load = commands[tool]
            s = timed(save, env, watch=(src,))
            fresh_target(dst, work)
            ld = timed(load, env, watch=(dst,))
            saved[tool].append(s)
            loaded[tool].append(ld)
            print(f"{label} run {run + 1} {tool:8s} save {_line(s)}   load {_line(ld)}", flush=True)
    for step, results in (("save", saved), ("load", loaded)):
        h, s = _median(results["hangard"]), _median(results["skopeo"])
        print(
            f"{label} {step}: hangard {h.seconds:.2f}s, skopeo {s.seconds:.2f}s -> "
            f"skopeo/hangard = {s.seconds / h.seconds:.2f}x; hangard peak RSS "
            f"{h.peak_rss_kib / 1024:.0f} MiB; cpu hangard {h.cpu_seconds:.2f}s vs skopeo "
            f"{s.cpu_seconds:.2f}s, registry {h.registry_cpu_seconds:.2f}s vs "
            f"{s.registry_cpu_seconds:.2f}s",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repos", type=int, default=20, help="0: no catalog")
    parser.add_argument("--layer-kib", type=int, default=256)
    parser.add_argument("--big-mib", type=int, default=1024, help="0: no big image")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="also profile one hangard save and load of each workload with pyinstrument "
        "(text and HTML call trees under DIR)",
    )
    args = parser.parse_args()
    with workspace("hangard-bench-archive-") as (work, src, dst):
        if args.repos:
            print(f"seeding {args.repos} repositories × 3 platforms × 4 layers …", flush=True)
            names = seed_catalog(src, args.repos, args.layer_kib)
            _bench(work, src, dst, names, label="catalog", runs=args.runs, profile=args.profile)
        if args.big_mib:
            print(f"seeding a {args.big_mib} MiB single-layer image …", flush=True)
            images.push_big_image(src, "bench/big", "v1", args.big_mib << 20, seed=7)
            _bench(work, src, dst, ["bench/big"], label="big", runs=args.runs, profile=args.profile)


def _profile(
    out: Path,
    hangard: tuple[list[str], list[str]],
    env: dict[str, str],
    dst: Registry,
    work: Path,
    *,
    label: str,
) -> None:
    """One hangard save and load under pyinstrument, rendered as text (the
    call tree) and HTML (to click through)."""
    out.mkdir(parents=True, exist_ok=True)
    _clean(work, label)
    fresh_target(dst, work)
    python = str(ROOT / ".venv" / "bin" / "python")
    pyinstrument = [python, "-m", "pyinstrument"]
    for step, command in zip(("save", "load"), hangard, strict=True):
        session = out / f"{step}.pyisession"
        run = [*pyinstrument, "-i", "0.0005", "-r", "pyisession", "-o", str(session)]
        subprocess.run([*run, "-m", "hangard", *command[1:]], env=env, check=True)
        for renderer, suffix in (("text", "txt"), ("html", "html")):
            rendered = str(out / f"{step}.{suffix}")
            load = [*pyinstrument, "--load", str(session), "-r", renderer, "-o", rendered]
            subprocess.run(load, check=True)
        print(f"profile of a {label} {step}: {out / step}.txt and .html", flush=True)


def _line(t: Timing) -> str:
    return f"{t.seconds:6.2f}s (cpu {t.cpu_seconds:5.2f}s, registry {t.registry_cpu_seconds:5.2f}s)"


def _median(runs: list[Timing]) -> Timing:
    return sorted(runs, key=lambda t: t.seconds)[len(runs) // 2]


if __name__ == "__main__":
    main()
