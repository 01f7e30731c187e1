"""The TTY progress display (:mod:`hangard.cli.display`).

In-process: the lines it draws for images in flight (one per image, its
blobs summed, labelled ``IMAGE:TAG → TARGET``), the overall line counting
images with bytes beside, and one unit system (MiB, MiB/s).

In a real terminal: ``hangard sync`` run inside tmux against real
registries, its screen read back with ``tmux capture-pane`` once it has
exited: the result printed once, the log lines whole and above the display,
and no frame of the display left behind.
"""

from __future__ import annotations

import contextvars
import io
import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from hangard.cli.display import RichProgress, binary_size
from hangard.copy.progress import ITEM_LABEL
from tests.harness import images
from tests.harness.registry import Registry
from tests.helpers_cli import Hangard

MIB = 1024 * 1024
BAR_GLYPHS = ("━", "╸", "╺")


def screen(display: RichProgress) -> list[str]:
    console = Console(file=io.StringIO(), width=120, record=True, color_system=None)
    console.print(display._progress.get_renderable())
    return [line.rstrip() for line in console.export_text().splitlines()]


def in_item(label: str | None, *calls: tuple[str, object, object]) -> None:
    """Run display calls inside a copy task labelled ``label``."""

    def run() -> None:
        ITEM_LABEL.set(label)
        for method, *args in calls:
            getattr(DISPLAY, method)(*args)

    contextvars.copy_context().run(run)


DISPLAY = RichProgress()


def test_one_line_per_image_in_flight_and_an_overall_line_of_images() -> None:
    DISPLAY.__init__()  # type: ignore[misc]  # a fresh display, never started
    DISPLAY.items(2)
    app = "docker.io/library/app:v1 -> m"
    in_item(
        app,
        ("blob_started", "sha256:" + "a" * 64, MIB),
        ("blob_started", "sha256:" + "b" * 64, MIB),
        ("blob_advanced", "sha256:" + "a" * 64, MIB),
    )
    in_item(None, ("blob_started", "sha256:" + "c" * 64, 2 * MIB))

    lines = screen(DISPLAY)

    assert lines[0].startswith("images") and "0/2 images, 1.0 MiB" in lines[0]
    assert lines[1].startswith("docker.io/library/app:v1 → m") and "1.0 MiB/2.0 MiB" in lines[1]
    assert lines[2].startswith("c" * 12) and "0 B/2.0 MiB" in lines[2]
    assert len(lines) == 3
    assert not any(" MB" in line or "MB/s" in line for line in lines)

    DISPLAY.item_done(app)
    assert [line.split()[0] for line in screen(DISPLAY)] == ["images", "c" * 12]
    assert "1/2 images" in screen(DISPLAY)[0]


@pytest.mark.parametrize(
    ("n", "text"), [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (5 * MIB, "5.0 MiB")]
)
def test_binary_units(n: int, text: str) -> None:
    assert binary_size(n) == text


# ------------------------------------------------------------ in tmux
@pytest.fixture
def tmux() -> Iterator[str]:
    """A private tmux server (its own socket); killed at teardown."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    socket = f"hangard-test-{uuid.uuid4().hex[:8]}"
    yield socket
    subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, check=False)


def run_in_tmux(socket: str, hangard: Hangard, args: list[str], script: Path) -> list[str]:
    """Run ``hangard ARGS`` in a 120x40 terminal; its screen once it exited."""
    env = {**hangard.env, "HANGARD_LOG_FORMAT": "console", "TERM": "xterm-256color"}
    exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items())
    command = " ".join(shlex.quote(a) for a in ["python3", "-m", "hangard", *args])
    python = shlex.quote(str(Path(__import__("sys").executable)))
    script.write_text(
        f"{exports}cd {shlex.quote(str(hangard.cwd))}\n"
        f'{command.replace("python3", python, 1)}\necho "exit=$?"\nsleep 600\n'
    )
    subprocess.run(
        ["tmux", "-L", socket, "-f", "/dev/null", "new-session", "-d", "-x", "120", "-y", "40",
         "bash", str(script)],
        check=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while True:
        shown = subprocess.run(
            ["tmux", "-L", socket, "capture-pane", "-p", "-J"],
            capture_output=True, text=True, check=True,
        ).stdout.splitlines()  # fmt: skip
        if any(line.startswith("exit=") for line in shown):
            return [line.rstrip() for line in shown]
        assert time.monotonic() < deadline, "\n".join(shown)
        time.sleep(0.1)  # polling the terminal with a deadline


def test_sync_on_a_terminal_is_calm(
    plain_registry: Registry,
    plain_registry2: Registry,
    hangard: Hangard,
    tmux: str,
    tmp_path: Path,
) -> None:
    for n in range(3):
        images.push_oci_image(plain_registry, f"team/app{n}", "v1", seed=40 + n)
    config = tmp_path / "h.yaml"
    doc = {
        "registries": {plain_registry.host: {"http": True}, plain_registry2.host: {"http": True}},
        "targets": {"m": {"registry": plain_registry2.host}},
        "defaults": {"targets": ["m"]},
        "images": [
            {"source": f"{plain_registry.host}/team/app{n}", "tags": ["v1"]} for n in range(3)
        ],
    }
    config.write_text(yaml.safe_dump(doc))

    shown = run_in_tmux(tmux, hangard, ["sync", str(config)], tmp_path / "run.sh")

    text = "\n".join(shown)
    assert "exit=0" in shown, text
    assert [line for line in shown if line.startswith("sync: ")] == [
        next(line for line in shown if line.startswith("sync: 3 copied"))
    ], text  # the result, once
    assert not any(glyph in text for glyph in BAR_GLYPHS), text  # no frame left behind
    assert "images, " not in text
    finished = [line for line in shown if "copy finished" in line]
    assert len(finished) == 3, text  # each log line whole, on its own line
    for line in finished:
        assert plain_registry.host in line.split("copy finished", 1)[1], text


def test_copy_on_a_terminal_prints_its_result_once(
    plain_registry: Registry, plain_registry2: Registry, hangard: Hangard, tmux: str, tmp_path: Path
) -> None:
    images.push_oci_image(plain_registry, "app", "v1", seed=50)
    src, dst = f"docker://{plain_registry.host}/app:v1", f"docker://{plain_registry2.host}/app:v1"
    args = ["copy", "--src-plain-http", "--dest-plain-http", src, dst]

    shown = run_in_tmux(tmux, hangard, args, tmp_path / "run.sh")

    text = "\n".join(shown)
    assert "exit=0" in shown, text
    assert [line for line in shown if line.startswith("copied") or "copy finished" in line] == [
        f"copied {src.removeprefix('docker://')} -> {dst.removeprefix('docker://')}"
    ], text
    assert not any(glyph in text for glyph in BAR_GLYPHS), text
