"""An interrupted write resumes: the complete entries of a ``.partial``
are kept (each CRC-checked), the rest is cut away, and the archive that
is then committed verifies. Truncation at every byte offset, a writer
killed with SIGKILL mid-entry, and appending to a finished archive (ours
or one with data descriptors, as Go's archive/zip writes)."""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from hangard.errors import ArchiveError
from hangard.stores.archive import ZipReader, ZipWriter, zipformat
from tests.helpers_zip import assert_valid, write_archive, write_entries

ENTRIES = [
    ("share/sha256/aa", b"first blob " * 4),
    ("share/sha256/bb", b""),
    ("share/sha256/cc", bytes(range(256)) * 2),
    ("index.json", b'{"list":[]}'),
]


def partial_bytes(tmp_path: Path, *, known: bool) -> tuple[bytes, list[int]]:
    """An uncommitted partial of :data:`ENTRIES`, and where each entry ends."""
    writer = ZipWriter.open(tmp_path / "src.zip")
    ends = []
    for name, data in ENTRIES:
        write_entries(writer, [(name, data)], known=known)
        ends.append((tmp_path / "src.zip.partial").stat().st_size)
    writer.close()
    return (tmp_path / "src.zip.partial").read_bytes(), ends


@pytest.mark.parametrize("zip64", [False, True], ids=["zip32", "zip64"])
@pytest.mark.parametrize("known", [True, False], ids=["size-known", "size-unknown"])
def test_resume_after_truncation_at_every_offset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, known: bool, zip64: bool
) -> None:
    """``zip64``: with the limit lowered to 100 bytes, cc (512 bytes) and
    every offset past 100 need ZIP64, in the local headers and the directory."""
    if zip64:
        monkeypatch.setattr(zipformat, "ZIP64_LIMIT", 100)
    data, ends = partial_bytes(tmp_path, known=known)
    monkeypatch.setattr(os, "fsync", lambda fd: None)  # recovery is tested here, not durability
    for cut in range(len(data) + 1):
        work = tmp_path / "work"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        (work / "a.zip.partial").write_bytes(data[:cut])
        writer = ZipWriter.open(work / "a.zip")
        kept = [entry for entry, end in zip(ENTRIES, ends, strict=True) if end <= cut]
        assert [(e.name, e.size) for e in writer.recovered] == [(n, len(d)) for n, d in kept]
        assert (work / "a.zip.partial").stat().st_size == (ends[len(kept) - 1] if kept else 0)
        write_entries(writer, [("new", b"after the resume")], known=known)
        writer.commit()
        expected = [*kept, ("new", b"after the resume")]
        with zipfile.ZipFile(work / "a.zip") as archive:
            assert archive.testzip() is None, cut
            assert [(i.filename, archive.read(i)) for i in archive.infolist()] == expected
        if cut in (0, *ends, len(data) // 2):
            assert_valid(work / "a.zip", expected)


def test_garbage_after_complete_entries_is_cut_away(tmp_path: Path) -> None:
    data, ends = partial_bytes(tmp_path, known=True)
    for garbage in (b"\x00" * 100, b"PK\x03\x04" + b"\xff" * 60, b"PK\x01\x02junk"):
        (tmp_path / "a.zip.partial").write_bytes(data + garbage)
        with ZipWriter.open(tmp_path / "a.zip") as writer:
            assert list(writer.entries) == [name for name, _ in ENTRIES]
        assert (tmp_path / "a.zip.partial").stat().st_size == ends[-1]


def test_a_damaged_entry_and_everything_after_it_are_cut_away(tmp_path: Path) -> None:
    data, ends = partial_bytes(tmp_path, known=True)
    damaged = bytearray(data)
    damaged[ends[1] + 40] ^= 0xFF  # inside cc's data
    (tmp_path / "a.zip.partial").write_bytes(damaged)
    with ZipWriter.open(tmp_path / "a.zip") as writer:
        assert list(writer.entries) == ["share/sha256/aa", "share/sha256/bb"]


@pytest.mark.parametrize("known", [True, False], ids=["size-known", "size-unknown"])
def test_an_entry_never_finished_is_not_kept(tmp_path: Path, known: bool) -> None:
    """All its data is there, but its header was never patched."""
    path = tmp_path / "a.zip"
    writer = ZipWriter.open(path)
    write_entries(writer, ENTRIES[:1])
    entry = writer.begin("unfinished", 5 if known else None)
    entry.write(b"12345")
    writer.close()
    with ZipWriter.open(path) as resumed:
        assert list(resumed.entries) == ["share/sha256/aa"]


def test_the_last_entry_of_a_name_wins_and_recovered_keeps_them_all(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    writer = ZipWriter.open(path)
    write_entries(writer, [("index.json", b"old"), ("blob", b"b")])
    writer.drop("index.json")
    write_entries(writer, [("index.json", b"new")])
    writer.close()
    with ZipWriter.open(path) as resumed:
        assert [(e.name, e.size) for e in resumed.recovered] == [
            ("index.json", 3),
            ("blob", 1),
            ("index.json", 3),
        ]
        assert resumed.read("index.json", limit=10) == b"new"
        resumed.commit()
    assert_valid(path, [("blob", b"b"), ("index.json", b"new")])


WRITER = """
import sys
from pathlib import Path
from hangard.stores.archive import ZipWriter
path, known = Path(sys.argv[1]), sys.argv[2] == "known"
writer = ZipWriter.open(path)
for name in ("a", "b"):
    entry = writer.begin(name, 1000)
    entry.write(name.encode() * 1000)
    entry.finish()
chunk = b"x" * (1 << 20)
entry = writer.begin("big", 64 * len(chunk) if known else None)
for number in range(64):
    entry.write(chunk)
    if number == 3:
        print("writing big", flush=True)
sys.stdin.read()  # never finishes: the test kills it mid-entry
"""


@pytest.mark.parametrize("known", [True, False], ids=["size-known", "size-unknown"])
def test_a_writer_killed_mid_entry_resumes(tmp_path: Path, known: bool) -> None:
    path = tmp_path / "a.zip"
    argv = [sys.executable, "-c", WRITER, str(path), "known" if known else "unknown"]
    child = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None
        ready, _, _ = select.select([child.stdout], [], [], 60)
        assert ready, "the writer did not start the big entry within 60 s"
        assert child.stdout.readline() == b"writing big\n"
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert not path.exists()
    assert (tmp_path / "a.zip.partial").stat().st_size > 4 << 20
    writer = ZipWriter.open(path)
    assert list(writer.entries) == ["a", "b"]
    write_entries(writer, [("big", b"y" * 100_000)], known=known, piece=1 << 16)
    writer.commit()
    assert_valid(path, [("a", b"a" * 1000), ("b", b"b" * 1000), ("big", b"y" * 100_000)])


def test_append_keeps_old_entries_and_drops_the_replaced_one(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    write_archive(path, [("blob1", b"one"), ("index.json", b"old index")])
    writer = ZipWriter.open(path, append=True)
    assert not path.exists() and (tmp_path / "a.zip.partial").exists(), "renamed first"
    assert list(writer.entries) == ["blob1", "index.json"]
    assert writer.read("index.json", limit=100) == b"old index"
    writer.drop("index.json")
    write_entries(writer, [("blob2", b"two"), ("index.json", b"new index")])
    writer.commit()
    assert_valid(path, [("blob1", b"one"), ("blob2", b"two"), ("index.json", b"new index")])
    assert b"old index" in path.read_bytes(), "the dropped entry stays as dead space"
    with ZipReader.open(path) as reader:
        assert reader.read("index.json", limit=100) == b"new index"


def test_an_interrupted_append_resumes_with_the_old_entries(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    write_archive(path, [("blob1", b"one"), ("index.json", b"old index")])
    writer = ZipWriter.open(path, append=True)
    writer.drop("index.json")
    write_entries(writer, [("blob2", b"two")])
    writer.begin("blob3", None).write(b"thr")
    writer.close()
    resumed = ZipWriter.open(path, append=True)
    assert [e.name for e in resumed.recovered] == ["blob1", "index.json", "blob2"]
    resumed.drop("index.json")
    write_entries(resumed, [("index.json", b"new index")])
    resumed.commit()
    assert_valid(path, [("blob1", b"one"), ("blob2", b"two"), ("index.json", b"new index")])


class _Unseekable:
    """A file zipfile cannot seek back in: it writes data descriptors then."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("wb")

    def write(self, data: bytes) -> int:
        return self._file.write(data)

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def test_append_to_an_archive_with_data_descriptors(tmp_path: Path) -> None:
    path = tmp_path / "go.zip"
    sink = _Unseekable(path)
    with zipfile.ZipFile(sink, "w") as archive:
        for name, data in ENTRIES:
            with archive.open(name, "w") as entry:
                entry.write(data)
    sink.close()
    with zipfile.ZipFile(path) as archive:
        assert all(i.flag_bits & 0x08 for i in archive.infolist())
    writer = ZipWriter.open(path, append=True)
    writer.begin("half", None).write(b"interrupted")
    writer.close()
    resumed = ZipWriter.open(path, append=True)
    assert [e.name for e in resumed.recovered] == [name for name, _ in ENTRIES]
    write_entries(resumed, [("more", b"after")])
    resumed.commit()
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        assert [(i.filename, archive.read(i)) for i in archive.infolist()] == [
            *ENTRIES,
            ("more", b"after"),
        ]
    tested = subprocess.run(["unzip", "-t", str(path)], capture_output=True, text=True, check=False)
    assert tested.returncode == 0, tested.stdout


def test_append_to_a_damaged_archive_leaves_it_under_its_name(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    write_archive(path, ENTRIES)
    damaged = path.read_bytes()[:-10]
    path.write_bytes(damaged)
    with pytest.raises(ArchiveError, match="not a readable zip archive"):
        ZipWriter.open(path, append=True)
    assert path.read_bytes() == damaged and os.listdir(tmp_path) == ["a.zip"]


def test_append_without_an_archive_starts_one(tmp_path: Path) -> None:
    writer = ZipWriter.open(tmp_path / "a.zip", append=True)
    assert writer.entries == {}
    write_entries(writer, ENTRIES)
    writer.commit()
    assert_valid(tmp_path / "a.zip", ENTRIES)


def test_a_commit_cut_short_before_its_rename_resumes_with_its_directory(tmp_path: Path) -> None:
    """The partial is a whole archive then: its directory, drops included, is kept."""
    path = tmp_path / "a.zip"
    write_archive(path, [("index.json", b"old"), ("blob", b"b")])
    writer = ZipWriter.open(path, append=True)
    writer.drop("index.json")
    write_entries(writer, [("index.json", b"new")])
    writer.commit()
    os.replace(path, tmp_path / "a.zip.partial")
    with ZipWriter.open(path) as resumed:
        assert list(resumed.entries) == ["blob", "index.json"]
        assert resumed.read("index.json", limit=10) == b"new"
        resumed.commit()
    assert_valid(path, [("blob", b"b"), ("index.json", b"new")])


def test_append_to_an_archive_with_data_before_its_entries_is_refused(tmp_path: Path) -> None:
    """A self-extracting zip: readable, but a resume could not scan it."""
    path = tmp_path / "sfx.zip"
    write_archive(tmp_path / "plain.zip", ENTRIES)
    path.write_bytes(b"#!/bin/sh\nexit 0\n" + (tmp_path / "plain.zip").read_bytes())
    with ZipReader.open(path) as reader:
        assert reader.read("index.json", limit=100) == ENTRIES[-1][1]
    before = path.read_bytes()
    with pytest.raises(
        ArchiveError,
        match=r"sfx\.zip: cannot append: the entries do not follow one another \(at offset 0\)",
    ):
        ZipWriter.open(path, append=True)
    assert path.read_bytes() == before and not (tmp_path / "sfx.zip.partial").exists()


def test_a_committed_or_closed_writer_refuses_more(tmp_path: Path) -> None:
    writer = ZipWriter.open(tmp_path / "a.zip")
    write_entries(writer, ENTRIES[:1])
    writer.commit()
    with pytest.raises(ValueError, match="is closed"):
        writer.begin("more", None)
    assert sorted(os.listdir(tmp_path)) == ["a.zip"]


def test_a_second_writer_of_the_same_archive_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    first = ZipWriter.open(path)
    write_entries(first, ENTRIES[:1])
    other = subprocess.run(
        [sys.executable, "-c", SECOND, str(path)], capture_output=True, text=True, check=False
    )
    assert other.stdout == f"{path}.partial: another process is writing this archive\n"
    first.commit()
    assert_valid(path, ENTRIES[:1])


SECOND = """
import sys
from pathlib import Path
from hangard.errors import ArchiveError
from hangard.stores.archive import ZipWriter
try:
    ZipWriter.open(Path(sys.argv[1]))
except ArchiveError as exc:
    print(exc)
"""
