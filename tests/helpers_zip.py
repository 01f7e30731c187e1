"""Zip archives for the zip container's tests: written with hangard's
writer, then checked by independent readers (Python's :mod:`zipfile`, and
Info-ZIP's ``unzip -t`` and ``zipinfo``)."""

from __future__ import annotations

import subprocess
import zipfile
from collections.abc import Sequence
from pathlib import Path

from hangard.stores.archive import ZipWriter

Entries = Sequence[tuple[str, bytes]]


def write_entries(
    writer: ZipWriter, entries: Entries, *, known: bool = True, piece: int = 7
) -> None:
    """Write ``entries`` in pieces of ``piece`` bytes, with their size
    declared (``known``) or not."""
    for name, data in entries:
        entry = writer.begin(name, len(data) if known else None)
        for at in range(0, len(data), piece):
            entry.write(data[at : at + piece])
        entry.finish()


def write_archive(
    path: Path, entries: Entries, *, known: bool = True, part_size: int | None = None
) -> None:
    writer = ZipWriter.open(path, part_size=part_size)
    write_entries(writer, entries, known=known)
    writer.commit()


def assert_valid(path: Path, expected: Entries) -> None:
    """``path`` holds exactly ``expected`` (in order), stored, say zipfile
    (CRCs checked), ``unzip -t`` and ``zipinfo``."""
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        assert [(i.filename, archive.read(i)) for i in archive.infolist()] == list(expected)
        assert {i.compress_type for i in archive.infolist()} <= {zipfile.ZIP_STORED}
        assert all(i.flag_bits & 0x08 == 0 for i in archive.infolist()), "no data descriptors"
    tested = subprocess.run(["unzip", "-t", str(path)], capture_output=True, text=True, check=False)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "No errors detected" in tested.stdout
    listed = subprocess.run(["zipinfo", str(path)], capture_output=True, text=True, check=False)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert f"number of entries: {len(expected)}" in listed.stdout
    assert listed.stdout.count(" stor ") == len(expected)
