"""hangard demo: start two throwaway local registries, seed one with a
3-platform image, copy it with hangard, sync a desired state, carry it
through a zip archive to a third registry, and show the digest survived.

Run through ./demo.sh, which installs what is needed first.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.harness import images, skopeo  # noqa: E402
from tests.harness.registry import Registry, make_plain_registry  # noqa: E402

HANGARD = [sys.executable, "-m", "hangard"]


def step(text: str) -> None:
    print(f"\n\033[1m==> {text}\033[0m", flush=True)


def run(*args: str) -> str:
    print("$ hangard " + " ".join(args), flush=True)
    out = subprocess.run([*HANGARD, *args], check=True, capture_output=True, text=True)
    print(out.stdout.rstrip())
    return out.stdout


def airgap(work: Path, source: Registry, digest: str) -> None:
    """Save to a zip, check it, load it into a third registry: same digest."""
    step("air-gapped: save to a zip archive, verify it, load it on the far side")
    archive = work / "usb" / "mirror.zip"
    archive.parent.mkdir()
    run(
        "save",
        "--plain-http",
        "--no-progress",
        f"{source.host}/demo/app:1.0",
        "-o",
        str(archive),
    )
    run("archive", "ls", str(archive))
    run("archive", "verify", str(archive))
    far = make_plain_registry(work / "far").start()
    try:
        run(
            "load",
            "--plain-http",
            "--no-progress",
            str(archive),
            "--to",
            f"{far.host}/airgap",
        )
        loaded = skopeo.inspect_raw(far, "airgap/demo/app", "1.0")
        print(f"loaded far/airgap/demo/app:1.0 -> sha256:{hashlib.sha256(loaded).hexdigest()}")
        if hashlib.sha256(loaded).hexdigest() != digest.removeprefix("sha256:"):
            raise SystemExit("digest changed across the archive: this is a bug")
    finally:
        far.stop()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="hangard-demo-") as tmp:
        work = Path(tmp)
        os.environ["HANGARD_STATE_DIR"] = str(work / "state")
        step("starting two local registries (docker-registry, plain HTTP on loopback)")
        source = make_plain_registry(work / "source").start()
        mirror = make_plain_registry(work / "mirror").start()
        try:
            print(f"source: {source.url}\nmirror: {mirror.url}")
            step("seeding the source with a 3-platform OCI index (amd64, arm64/v8, arm/v7)")
            index = images.build_index(seed=42, attestations=True)
            images.push_index(source, "demo/app", index, tag="1.0")
            print(f"demo/app:1.0 = {index.digest}")

            src = f"docker://{source.host}/demo/app:1.0"
            step("what is in the source")
            run("inspect", "--plain-http", src)

            step("copying every platform to the mirror, digest for digest")
            run(
                "copy",
                "--src-plain-http",
                "--dest-plain-http",
                "--no-progress",
                src,
                f"docker://{mirror.host}/library/app:1.0",
            )

            step("copying only linux/arm64 (a new, deterministic index)")
            run(
                "copy",
                "--src-plain-http",
                "--dest-plain-http",
                "--no-progress",
                "--platform",
                "linux/arm64",
                src,
                f"docker://{mirror.host}/library/app:1.0-arm64",
            )

            step("declaring the mirror in a desired-state file, then `sync --once`")
            images.push_index(source, "demo/app", images.build_index(seed=43), tag="1.1")
            images.push_index(source, "demo/app", images.build_index(seed=44), tag="2.0-rc1")
            desired = work / "hangard.yaml"
            desired.write_text(
                f"""# what must exist in the mirror
registries:
  {source.host}: {{http: true}}
  {mirror.host}: {{http: true}}
defaults:
  targets: [mirror]
targets:
  mirror:
    registry: "{mirror.host}"
    prefix: library          # demo/app -> library/demo/app
images:
  - source: {source.host}/demo/app
    tags:
      semver: ">=1.0 <2"     # 1.0 and 1.1, not 2.0-rc1
"""
            )
            print(desired.read_text())
            run("validate", str(desired))
            run("plan", str(desired))
            sync = ["--log-level", "warning", "sync", "--once", "--no-progress", str(desired)]
            run(*sync)
            step("nothing changed: the second sync only asks HEADs")
            run(*sync)

            airgap(work, source, index.digest)

            step("checking with skopeo, independently")
            raw = skopeo.inspect_raw(mirror, "library/app", "1.0")
            digest = "sha256:" + hashlib.sha256(raw).hexdigest()
            print(f"skopeo inspect --raw mirror/library/app:1.0 -> {digest}")
            if digest != index.digest:
                raise SystemExit("digest changed: this is a bug")
            print("\033[32mdigest preserved: the mirror serves the very same bytes\033[0m")
        finally:
            source.stop()
            mirror.stop()


if __name__ == "__main__":
    main()
