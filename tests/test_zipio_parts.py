"""Split archives: one zip stream cut into ``FILE.zip.001``, ``.002``, …,
each at most ``part_size`` bytes, whose concatenation is the archive an
unsplit write gives. Read, resumed and appended to across parts; a
missing or foreign part is an error naming it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from hangard.errors import ArchiveError
from hangard.stores.archive import ZipReader, ZipWriter
from tests.helpers_zip import assert_valid, write_archive, write_entries

ENTRIES = [
    ("share/sha256/aa", os.urandom(2500)),
    ("share/sha256/bb", b""),
    ("share/sha256/cc", os.urandom(700)),
    ("index.json", b'{"list":[]}'),
]
PART = 1000


def parts(tmp_path: Path, name: str = "a.zip") -> list[Path]:
    return sorted(tmp_path.glob(f"{name}.[0-9][0-9][0-9]"))


def joined(paths: list[Path]) -> bytes:
    return b"".join(p.read_bytes() for p in paths)


@pytest.mark.parametrize("known", [True, False], ids=["size-known", "size-unknown"])
def test_parts_concatenate_to_the_unsplit_archive(tmp_path: Path, known: bool) -> None:
    write_archive(tmp_path / "a.zip", ENTRIES, known=known, part_size=PART)
    write_archive(tmp_path / "whole.zip", ENTRIES, known=known)
    found = parts(tmp_path)
    assert [p.name for p in found] == [f"a.zip.00{n}" for n in range(1, 5)]
    assert not list(tmp_path.glob("*.partial")) and not (tmp_path / "a.zip").exists()
    sizes = [p.stat().st_size for p in found]
    assert sizes[:-1] == [PART] * 3 and 0 < sizes[-1] <= PART
    assert joined(found) == (tmp_path / "whole.zip").read_bytes()
    (tmp_path / "cat.zip").write_bytes(joined(found))
    assert_valid(tmp_path / "cat.zip", ENTRIES)


@pytest.mark.parametrize("given", ["a.zip", "a.zip.001"])
def test_a_split_archive_reads_from_its_name_or_first_part(tmp_path: Path, given: str) -> None:
    write_archive(tmp_path / "a.zip", ENTRIES, part_size=PART)
    with ZipReader.open(tmp_path / given) as reader:
        assert reader.where == str(tmp_path / "a.zip.001")
        assert [(n, reader.read(n, limit=1 << 20)) for n in reader.entries] == ENTRIES
        chunks = list(reader.stream("share/sha256/aa", chunk=600))  # crosses two part boundaries
        assert b"".join(chunks) == ENTRIES[0][1] and max(map(len, chunks)) <= 600


def test_a_missing_middle_part_is_named(tmp_path: Path) -> None:
    write_archive(tmp_path / "a.zip", ENTRIES, part_size=PART)
    (tmp_path / "a.zip.002").unlink()
    with pytest.raises(ArchiveError) as caught:
        ZipReader.open(tmp_path / "a.zip.001")
    assert str(caught.value) == f"{tmp_path}/a.zip.002: part 2 of {tmp_path}/a.zip is missing"


def test_a_missing_last_part_is_named(tmp_path: Path) -> None:
    write_archive(tmp_path / "a.zip", ENTRIES, part_size=PART)
    for last in (4, 3, 2):
        (tmp_path / f"a.zip.00{last}").unlink()
        with pytest.raises(ArchiveError) as caught:
            ZipReader.open(tmp_path / "a.zip")
        assert str(caught.value).startswith(
            f"{tmp_path}/a.zip.00{last}: part {last} of {tmp_path}/a.zip is missing, "
            "or the parts before it are damaged (",
        )


def test_a_part_of_the_wrong_size_is_named(tmp_path: Path) -> None:
    write_archive(tmp_path / "a.zip", ENTRIES, part_size=PART)
    with (tmp_path / "a.zip.002").open("ab") as part:
        part.write(b"x")
    with pytest.raises(
        ArchiveError, match=r"a\.zip\.002: 1001 bytes, but the parts of this archive are 1000 bytes"
    ):
        ZipReader.open(tmp_path / "a.zip")


def test_resume_across_parts_after_truncation_at_many_offsets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "fsync", lambda fd: None)  # recovery is tested here, not durability
    writer = ZipWriter.open(tmp_path / "src.zip", part_size=PART)
    ends = []
    for entry in ENTRIES:
        write_entries(writer, [entry])
        ends.append(sum(p.stat().st_size for p in tmp_path.glob("src.zip.*.partial")))
    writer.close()
    stream = joined(sorted(tmp_path.glob("src.zip.*.partial")))
    assert len(stream) == ends[-1] > 3 * PART
    for cut in sorted({*range(0, len(stream) + 1, 37), PART, 2 * PART, 3 * PART, *ends}):
        work = tmp_path / "work"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        for number, at in enumerate(range(0, max(cut, 1), PART), start=1):
            (work / f"a.zip.{number:03d}.partial").write_bytes(stream[at : min(at + PART, cut)])
        resumed = ZipWriter.open(work / "a.zip", part_size=PART)
        kept = [e.name for e in resumed.recovered]
        assert kept == [name for (name, _), end in zip(ENTRIES, ends, strict=True) if end <= cut]
        write_entries(resumed, [("new", b"n" * 1500)])
        resumed.commit()
        expected = [*ENTRIES[: len(kept)], ("new", b"n" * 1500)]
        with ZipReader.open(work / "a.zip") as reader:
            assert [(n, reader.read(n, limit=1 << 20)) for n in reader.entries] == expected
        (work / "cat.zip").write_bytes(joined(parts(work)))
        assert_valid(work / "cat.zip", expected)


def test_append_to_a_split_archive(tmp_path: Path) -> None:
    write_archive(tmp_path / "a.zip", ENTRIES, part_size=PART)
    writer = ZipWriter.open(tmp_path / "a.zip", append=True, part_size=PART)
    assert parts(tmp_path) == [], "every part is renamed to its partial first"
    writer.drop("index.json")
    write_entries(writer, [("more", b"m" * 3000), ("index.json", b"{}")])
    writer.commit()
    (tmp_path / "cat.zip").write_bytes(joined(parts(tmp_path)))
    assert_valid(tmp_path / "cat.zip", [*ENTRIES[:3], ("more", b"m" * 3000), ("index.json", b"{}")])


def test_a_new_save_replaces_every_part_of_the_old_one(tmp_path: Path) -> None:
    write_archive(tmp_path / "a.zip", [*ENTRIES, ("big", b"b" * 5000)], part_size=PART)
    assert len(parts(tmp_path)) == 9
    write_archive(tmp_path / "a.zip", ENTRIES[:1], part_size=PART)
    assert [p.name for p in parts(tmp_path)] == ["a.zip.001", "a.zip.002", "a.zip.003"]
    write_archive(tmp_path / "a.zip", ENTRIES[:1])
    assert sorted(os.listdir(tmp_path)) == ["a.zip"], "an unsplit save replaces the parts"
    write_archive(tmp_path / "a.zip", ENTRIES[:1], part_size=PART)
    assert not (tmp_path / "a.zip").exists(), "and a split one the whole file"


def test_a_partial_resumes_only_split_the_same_way(tmp_path: Path) -> None:
    writer = ZipWriter.open(tmp_path / "a.zip", part_size=PART)
    write_entries(writer, ENTRIES)
    writer.close()
    with pytest.raises(
        ArchiveError,
        match=r"a\.zip\.001\.partial: an interrupted save of a\.zip was written in parts",
    ):
        ZipWriter.open(tmp_path / "a.zip")
    with pytest.raises(
        ArchiveError,
        match=r"a\.zip\.001\.partial: 1000 bytes, but the parts of this archive are 999 bytes",
    ):
        ZipWriter.open(tmp_path / "a.zip", part_size=999)
    with ZipWriter.open(tmp_path / "a.zip", part_size=PART) as resumed:
        assert len(resumed.entries) == len(ENTRIES)


def test_append_refuses_an_archive_split_the_other_way(tmp_path: Path) -> None:
    """Its commit would replace the archive with only the new entries."""
    write_archive(tmp_path / "whole.zip", ENTRIES)
    write_archive(tmp_path / "split.zip", ENTRIES, part_size=PART)
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(
        ArchiveError, match=r"whole\.zip is not split into parts: append to it without a part size"
    ):
        ZipWriter.open(tmp_path / "whole.zip", append=True, part_size=PART)
    with pytest.raises(
        ArchiveError, match=r"split\.zip is split into parts: append to it with a part size"
    ):
        ZipWriter.open(tmp_path / "split.zip", append=True)
    assert sorted(os.listdir(tmp_path)) == before
