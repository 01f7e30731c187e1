"""The zip container: what hangard writes is read back by zipfile,
``unzip -t`` and ``zipinfo``; ZIP64 where sizes, offsets and counts need it
(the 4 GiB threshold lowered, not 4 GiB written); hostile or damaged
archives are refused with an :class:`ArchiveError` naming file and entry."""

from __future__ import annotations

import hashlib
import os
import struct
import sys
import warnings
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from hangard.errors import ArchiveError, InputError
from hangard.stores.archive import ZipReader, ZipWriter, zipformat, zipread
from tests.helpers_cli import Hangard
from tests.helpers_rss import RSS_LIMIT_KIB, peak_rss
from tests.helpers_zip import assert_valid, write_archive, write_entries

ENTRIES = [
    ("index.json", b'{"list":[]}'),
    ("share/sha256/" + "a" * 64, os.urandom(5000)),
    ("empty", b""),
    ("0123abcd/oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
    ("ünïcode/名前", b"utf-8 names"),
]


@pytest.mark.parametrize("known", [True, False], ids=["size-known", "size-unknown"])
def test_round_trip_is_read_by_zipfile_unzip_and_zipinfo(tmp_path: Path, known: bool) -> None:
    path = tmp_path / "a.zip"
    write_archive(path, ENTRIES, known=known)
    assert os.listdir(tmp_path) == ["a.zip"], "the partial is renamed at commit"
    assert_valid(path, ENTRIES)
    with ZipReader.open(path) as reader:
        assert list(reader.entries) == [name for name, _ in ENTRIES]
        for name, data in ENTRIES:
            assert reader.read(name, limit=len(data)) == data
            assert b"".join(reader.stream(name, chunk=1000)) == data
        chunks = list(reader.stream(ENTRIES[1][0], chunk=1000))
        assert [len(c) for c in chunks] == [1000] * 5
    with zipfile.ZipFile(path) as archive:
        utf8 = [i.filename for i in archive.infolist() if i.flag_bits & 0x800]
        assert utf8 == ["ünïcode/名前"], "the UTF-8 flag where the name is not ASCII"


def test_the_same_entries_give_the_same_bytes(tmp_path: Path) -> None:
    write_archive(tmp_path / "a.zip", ENTRIES)
    write_archive(tmp_path / "b.zip", ENTRIES)
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()


def test_nothing_is_under_the_final_name_before_commit(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    write_archive(path, ENTRIES[:1])
    old = path.read_bytes()
    writer = ZipWriter.open(path)
    write_entries(writer, ENTRIES)
    assert path.read_bytes() == old, "the old archive stays until the new one is committed"
    assert (tmp_path / "a.zip.partial").exists()
    writer.commit()
    assert sorted(os.listdir(tmp_path)) == ["a.zip"]
    assert_valid(path, ENTRIES)


def test_entries_read_back_while_another_is_written(tmp_path: Path) -> None:
    writer = ZipWriter.open(tmp_path / "a.zip")
    write_entries(writer, ENTRIES[:2])
    entry = writer.begin("later", None)
    entry.write(b"x" * 100)
    assert writer.read("index.json", limit=100) == ENTRIES[0][1]
    assert b"".join(writer.stream(ENTRIES[1][0])) == ENTRIES[1][1]
    entry.finish()
    assert list(writer.entries) == ["index.json", ENTRIES[1][0], "later"]
    writer.commit()
    assert_valid(tmp_path / "a.zip", [*ENTRIES[:2], ("later", b"x" * 100)])


def test_threads_stream_entries_at_once(tmp_path: Path) -> None:
    """Reads are positional: no file position is shared between streams."""
    blobs = [(f"share/sha256/{n:02d}", os.urandom(20_000 + n)) for n in range(8)]
    path = tmp_path / "a.zip"
    write_archive(path, blobs)
    with ZipReader.open(path) as reader:

        def whole(name: str) -> bytes:
            return b"".join(reader.stream(name, chunk=997))

        with ThreadPoolExecutor(max_workers=8) as pool:
            got = list(pool.map(whole, [name for name, _ in blobs] * 4))
    assert got == [data for _, data in blobs] * 4


def test_small_archives_carry_no_zip64_records(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    write_archive(path, ENTRIES, known=True)
    data = path.read_bytes()
    assert b"PK\x06\x06" not in data and b"PK\x06\x07" not in data
    with zipfile.ZipFile(path) as archive:
        assert all(i.extra == b"" for i in archive.infolist())


@pytest.mark.parametrize("known", [True, False], ids=["size-known", "size-unknown"])
def test_zip64_past_the_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, known: bool) -> None:
    """With the limit lowered to 1000 bytes, an entry of 5000 bytes and the
    offsets after it need ZIP64, as entries and offsets past 4 GiB do."""
    monkeypatch.setattr(zipformat, "ZIP64_LIMIT", 1000)
    path = tmp_path / "a.zip"
    write_archive(path, ENTRIES, known=known)
    data = path.read_bytes()
    assert b"PK\x06\x06" in data and b"PK\x06\x07" in data, "ZIP64 end record and locator"
    end = data[-22:]
    assert end[:4] == b"PK\x05\x06"
    assert struct.unpack_from("<I", end, 16) == (0xFFFF_FFFF,), "the directory's offset is wide"
    big = data.index(ENTRIES[1][0].encode()) - 30
    assert struct.unpack_from("<II", data, big + 18) == (0xFFFF_FFFF, 0xFFFF_FFFF)
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        assert infos[1].file_size == 5000 and infos[1].extra[:2] == b"\x01\x00"
        assert infos[-1].header_offset > 1000
    assert_valid(path, ENTRIES)
    with ZipReader.open(path) as reader:
        assert [reader.read(n, limit=1 << 20) for n in reader.entries] == [d for _, d in ENTRIES]


def test_zip64_past_the_entry_count_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zipformat, "ZIP64_COUNT_LIMIT", 3)
    path = tmp_path / "a.zip"
    write_archive(path, ENTRIES)
    data = path.read_bytes()
    assert struct.unpack_from("<HH", data, len(data) - 22 + 8) == (0xFFFF, 0xFFFF)
    assert_valid(path, ENTRIES)
    with ZipReader.open(path) as reader:
        assert len(reader.entries) == len(ENTRIES)


def test_read_refuses_an_entry_past_its_limit_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    write_archive(path, ENTRIES)
    flip(path, path.read_bytes().index(ENTRIES[1][1]) + 10)  # reading would fail the CRC
    with ZipReader.open(path) as reader, pytest.raises(ArchiveError) as caught:
        reader.read(ENTRIES[1][0], limit=4999)
    assert str(caught.value) == (
        f"{path}: entry {ENTRIES[1][0]} is 5000 bytes, more than the 4999 allowed"
    )


def test_a_flipped_byte_is_a_crc_error_naming_the_entry(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    write_archive(path, ENTRIES)
    flip(path, path.read_bytes().index(ENTRIES[1][1]) + 4990)
    name = ENTRIES[1][0]
    with ZipReader.open(path) as reader:
        with pytest.raises(ArchiveError, match=f"{path}: entry {name} is damaged: CRC-32"):
            reader.read(name, limit=1 << 20)
        got: list[bytes] = []
        with pytest.raises(ArchiveError, match="damaged"):
            got.extend(reader.stream(name, chunk=1000))
        assert sum(map(len, got)) == 4000, "the last chunk is held back until the CRC is checked"
        assert reader.read("index.json", limit=100) == ENTRIES[0][1], "the others still read"


def hostile(path: Path, names: list[str]) -> None:
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w") as archive:
        warnings.simplefilter("ignore")  # zipfile warns about a duplicate name
        for name in names:
            archive.writestr(name, b"data")


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["index.json", "index.json"], "entry index.json appears twice in the directory"),
        (
            ["share/../../x"],
            "entry 'share/../../x' is refused: an empty, '.' or '..' path component",
        ),
        (["../x"], "entry '../x' is refused: an empty, '.' or '..' path component"),
        (["/etc/passwd"], "entry '/etc/passwd' is refused: an absolute path"),
        (["a\\..\\b"], "entry 'a\\\\..\\\\b' is refused: a backslash or NUL in the name"),
        (["a//b"], "entry 'a//b' is refused: an empty, '.' or '..' path component"),
    ],
)
def test_hostile_names_are_refused(tmp_path: Path, names: list[str], message: str) -> None:
    path = tmp_path / "h.zip"
    hostile(path, names)
    with pytest.raises(ArchiveError) as caught:
        ZipReader.open(path)
    assert str(caught.value) == f"{path}: {message}"
    assert isinstance(caught.value, InputError)


def test_a_huge_declared_size_is_refused_at_open(tmp_path: Path) -> None:
    path = tmp_path / "h.zip"
    write_archive(path, ENTRIES)
    data = bytearray(path.read_bytes())
    central = data.index(b"PK\x01\x02")  # the first entry's central record
    data[central + 20 : central + 28] = struct.pack("<II", 0x7FFF_FFFF, 0x7FFF_FFFF)
    path.write_bytes(data)
    with pytest.raises(
        ArchiveError, match=r"entry index.json declares 2147483647 bytes at offset 0, past the end"
    ):
        ZipReader.open(path)


@pytest.mark.parametrize("zip64", [False, True], ids=["zip32", "zip64"])
def test_a_central_directory_past_its_cap_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, zip64: bool
) -> None:
    """zipfile would hold it in memory whole; a hostile end record can
    declare any size (here 2 GiB, and the real one with the cap lowered)."""
    if zip64:
        monkeypatch.setattr(zipformat, "ZIP64_COUNT_LIMIT", 1)
    path = tmp_path / "big.zip"
    write_archive(path, ENTRIES)
    assert (b"PK\x06\x06" in path.read_bytes()) is zip64
    data = bytearray(path.read_bytes())
    data[-10:-6] = struct.pack("<I", 0x7FFF_FFFF)
    (tmp_path / "lying.zip").write_bytes(data)
    with pytest.raises(ArchiveError, match="a central directory of 2147483647 bytes, more than"):
        ZipReader.open(tmp_path / "lying.zip")
    monkeypatch.setattr(zipread, "MAX_DIRECTORY", 100)
    with pytest.raises(ArchiveError, match=r"a central directory of \d+ bytes, more than the 100"):
        ZipReader.open(path)


@pytest.mark.parametrize("cut", [1, 22, 60, 200])
def test_a_truncated_central_directory_is_refused(tmp_path: Path, cut: int) -> None:
    path = tmp_path / "t.zip"
    write_archive(path, ENTRIES)
    data = path.read_bytes()
    path.write_bytes(data[:-cut])
    with pytest.raises(ArchiveError, match=f"^{path}: not a readable zip archive"):
        ZipReader.open(path)


def test_the_cli_says_what_is_wrong_with_a_hostile_archive_in_one_line(
    tmp_path: Path, hangard: Hangard
) -> None:
    """Through ``hangard inspect``: exit code 2, one line on stderr, no traceback."""
    made = {}
    for case, names in (("twice", ["index.json", "index.json"]), ("dotdot", ["../x"])):
        made[case] = tmp_path / f"{case}.zip"
        hostile(made[case], names)
    made["huge"], made["cut"] = tmp_path / "huge.zip", tmp_path / "cut.zip"
    write_archive(made["huge"], ENTRIES)
    data = bytearray(made["huge"].read_bytes())
    made["cut"].write_bytes(data[:-30])
    central = data.index(b"PK\x01\x02")
    data[central + 20 : central + 28] = struct.pack("<II", 0x7FFF_FFFF, 0x7FFF_FFFF)
    made["huge"].write_bytes(data)
    runs = hangard.many(*(["inspect", f"hangar-archive:{path}"] for path in made.values()))
    expected = {
        "twice": "entry index.json appears twice in the directory",
        "dotdot": "entry '../x' is refused: an empty, '.' or '..' path component",
        "huge": "entry index.json declares 2147483647 bytes at offset 0, past the end",
        "cut": "not a readable zip archive",
    }
    for (case, path), run in zip(made.items(), runs, strict=True):
        assert run.code == 2, (case, run.err)
        assert run.err.startswith(f"error: {path}: {expected[case]}"), (case, run.err)
        assert run.err.count("\n") == 1 and "Traceback" not in run.err, run.err


def test_compressed_entries_and_non_zips_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("index.json", b"{}" * 100)
    with pytest.raises(
        ArchiveError,
        match=r"entry index.json is compressed \(method 8\); archives hold stored entries only",
    ):
        ZipReader.open(path)
    path.write_bytes(b"not a zip at all" * 10)
    with pytest.raises(ArchiveError, match="not a readable zip archive"):
        ZipReader.open(path)


def test_a_missing_archive_says_so_and_points_at_its_partial(tmp_path: Path) -> None:
    path = tmp_path / "none.zip"
    with pytest.raises(ArchiveError, match=f"^{path}: no such archive$"):
        ZipReader.open(path)
    writer = ZipWriter.open(path)
    write_entries(writer, ENTRIES[:1])
    writer.close()
    with pytest.raises(ArchiveError, match=r"none\.zip\.partial is there: an interrupted save"):
        ZipReader.open(path)
    with ZipWriter.open(path) as resumed:
        assert list(resumed.entries) == ["index.json"]


def test_writer_misuse_is_a_programming_error(tmp_path: Path) -> None:
    writer = ZipWriter.open(tmp_path / "a.zip")
    entry = writer.begin("a", 3)
    with pytest.raises(ValueError, match="entry a is still being written"):
        writer.begin("b", None)
    with pytest.raises(ValueError, match="more than the declared 3 bytes"):
        entry.write(b"abcd")
    entry.write(b"ab")
    with pytest.raises(ValueError, match="entry a: 2 bytes, declared 3"):
        entry.finish()
    entry.abort()  # already aborted by finish: nothing more happens
    assert (tmp_path / "a.zip.partial").stat().st_size == 0, "the short entry was cut away"
    write_entries(writer, [("a", b"abc")])
    with pytest.raises(ValueError, match="entry a is already in the archive"):
        writer.begin("a", None)
    with pytest.raises(ArchiveError, match=r"entry name '\.\./b' is refused"):
        writer.begin("../b", None)
    aborted = writer.begin("b", None)
    aborted.write(b"12345")
    aborted.abort()
    with pytest.raises(ValueError, match="entry b is not being written"):
        aborted.write(b"x")
    done = writer.begin("c", 1)
    done.write(b"c")
    done.finish()
    done.abort()  # a finished entry stays
    writer.commit()
    assert_valid(tmp_path / "a.zip", [("a", b"abc"), ("c", b"c")])


def flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(data)


BIG = """
import hashlib, sys
from pathlib import Path
from hangard.stores.archive import ZipReader, ZipWriter
path, size, part = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
chunk = bytes(range(256)) * 4096  # 1 MiB
writer = ZipWriter.open(path, part_size=part)
entry = writer.begin("share/sha256/big", None)
for _ in range(size // len(chunk)):
    entry.write(chunk)
entry.finish()
writer.commit()
with ZipReader.open(path) as reader:
    digest = hashlib.sha256()
    for data in reader.stream("share/sha256/big"):
        digest.update(data)
print(digest.hexdigest())
"""


@pytest.mark.slow
def test_a_1_gib_entry_is_written_and_read_in_bounded_memory(tmp_path: Path) -> None:
    size, part = 1 << 30, 300 << 20
    measured = peak_rss(
        [sys.executable, "-c", BIG, str(tmp_path / "big.zip"), str(size), str(part)], tmp_path
    )
    assert measured.exit_code == 0, measured.stderr
    assert measured.maxrss_kib < RSS_LIMIT_KIB, f"peak RSS {measured.maxrss_kib} KiB"
    chunk = bytes(range(256)) * 4096
    expected = hashlib.sha256()
    for _ in range(size // len(chunk)):
        expected.update(chunk)
    assert measured.stdout.strip() == expected.hexdigest()
    found = sorted(tmp_path.glob("big.zip.0*"))
    assert [p.stat().st_size for p in found][:3] == [part] * 3 and len(found) == 4
