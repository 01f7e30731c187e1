"""``write_atomic``: the one writer of hangard's own files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hangard.atomicfile import write_atomic
from tests.helpers_strace import fsynced_after_rename, syscalls


def test_writes_text_and_bytes_creating_the_directory(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "state.json"
    write_atomic(target, "héllo")
    assert target.read_text() == "héllo"
    write_atomic(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert os.listdir(target.parent) == ["state.json"]  # no temporary file left


def test_replaces_the_old_content_whole(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_text("old content that is longer")
    write_atomic(target, "new")
    assert target.read_text() == "new"


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_text("old")
    (tmp_path / "f.d").mkdir()
    with pytest.raises(IsADirectoryError):
        write_atomic(tmp_path / "f.d", "x")  # rename onto a directory fails
    write_atomic(target, "new")
    assert sorted(os.listdir(tmp_path)) == ["f", "f.d"]
    assert target.read_text() == "new"


def test_an_unwritable_directory_raises_oserror(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(FileExistsError):
        write_atomic(blocker / "x.json", "{}")  # parent is a regular file


def test_the_directory_is_fsynced_after_the_rename(tmp_path: Path) -> None:
    target = tmp_path / "state" / "state.json"
    code = (
        "from pathlib import Path\n"
        "from hangard.atomicfile import write_atomic\n"
        f"write_atomic(Path({str(target)!r}), 'x')\n"
    )
    calls = syscalls(code, tmp_path / "strace.log")
    assert target.read_text() == "x"
    assert fsynced_after_rename(calls, target), calls
