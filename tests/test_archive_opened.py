"""One archive open for a run (hangard.stores.archive.opened), on real
files: nothing final before commit, the index written with the entries
recorded and the base of a delta, a digest refused while writing with
nothing left behind, one Archive per path in an ArchiveSet, appends keep
the old entries."""

from __future__ import annotations

import asyncio
import hashlib
import json
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hangard.copy import direct
from hangard.copy.blobs import BlobStats
from hangard.copy.direct import DirectTransfers
from hangard.core.archive import BaseRef, ImageSpec, ListEntry, share_name
from hangard.core.manifest import parse_manifest
from hangard.errors import ArchiveError, DigestMismatchError
from hangard.stores.archive.opened import Archive, ArchiveSet, rfc3339
from hangard.stores.archive.store import ArchiveStore
from hangard.stores.oci import FileBlob, OciLayoutStore
from tests.harness import images


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def entry(tag: str, data: bytes) -> ListEntry:
    return ListEntry("h.io/team/app", tag, (ImageSpec(digest(data), arch="amd64", os="linux"),))


async def test_nothing_is_final_before_commit(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    archive = Archive(path)
    blob = b"layer bytes"
    assert await archive.write(share_name(digest(blob)), len(blob), blob, digest=digest(blob))
    assert not await archive.write(share_name(digest(blob)), len(blob), b"", digest=digest(blob))
    await archive.record(entry("1", blob))
    await archive.set_base(BaseRef("old.zip", "ab" * 32))
    assert not path.exists() and path.with_name("a.zip.partial").exists()
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert await archive.commit(moment=moment)
    assert path.exists() and not path.with_name("a.zip.partial").exists()
    with zipfile.ZipFile(path) as z:
        assert z.namelist() == [share_name(digest(blob)), "index.json"]
        doc = json.loads(z.read("index.json"))
    assert doc["time"] == "2026-01-02T03:04:05Z" == rfc3339(moment)
    assert doc["hangardBase"] == {"name": "old.zip", "indexSha256": "ab" * 32}
    assert [e["tag"] for e in doc["list"]] == ["1"]
    assert not await archive.commit()  # nothing new
    await archive.close()


async def test_a_wrong_digest_leaves_no_entry(tmp_path: Path) -> None:
    archive = Archive(tmp_path / "b.zip")
    wanted = digest(b"expected")
    with pytest.raises(DigestMismatchError, match=wanted):
        await archive.write(share_name(wanted), 5, b"other", digest=wanted)
    assert await archive.entry(share_name(wanted)) is None
    assert await archive.write(share_name(wanted), 8, b"expected", digest=wanted)
    await archive.commit()
    with zipfile.ZipFile(tmp_path / "b.zip") as z:
        assert z.testzip() is None
        assert z.read(share_name(wanted)) == b"expected"
    await archive.close()


async def test_a_streamed_body_with_a_wrong_digest_leaves_no_entry(tmp_path: Path) -> None:
    """Streamed in small chunks (gathered into pieces and read ahead), the
    body is hashed by the archive, and a mismatch is refused before the
    entry is finished; the next entry starts where the refused one did."""
    archive = Archive(tmp_path / "s.zip")
    data = bytes(range(256)) * 12_000  # ~3 MiB: several pieces
    wanted = digest(data)

    async def body(payload: bytes) -> AsyncIterator[bytes]:
        for at in range(0, len(payload), 60_000):
            yield payload[at : at + 60_000]

    other = data[:-1] + b"x"
    with pytest.raises(DigestMismatchError, match=wanted) as info:
        await archive.write(share_name(wanted), len(data), body(other), digest=wanted, what="W")
    assert "W" in str(info.value)
    assert await archive.entry(share_name(wanted)) is None
    assert await archive.write(share_name(wanted), len(data), body(data), digest=wanted)
    await archive.commit()
    with zipfile.ZipFile(tmp_path / "s.zip") as z:
        assert z.testzip() is None
        assert z.read(share_name(wanted)) == data
        assert z.getinfo(share_name(wanted)).header_offset == 0
    await archive.close()


async def test_an_append_keeps_entries_and_blobs(tmp_path: Path) -> None:
    path = tmp_path / "c.zip"
    archives = ArchiveSet()
    first = archives.get(path)
    assert archives.get(str(path)) is first
    await first.write(share_name(digest(b"one")), 3, b"one", digest=digest(b"one"))
    await first.record(entry("1", b"one"))
    assert [a.path for a in await archives.commit()] == [path]
    await archives.close()

    again = ArchiveSet().get(path)
    assert (await again.entry(share_name(digest(b"one")))) is not None
    assert await again.read(share_name(digest(b"one")), limit=10) == b"one"
    await again.write(share_name(digest(b"two")), 3, b"two", digest=digest(b"two"))
    await again.record(entry("2", b"two"))
    await again.commit()
    await again.close()
    with zipfile.ZipFile(path) as z:
        assert z.testzip() is None
        tags = [e["tag"] for e in json.loads(z.read("index.json"))["list"]]
        assert z.namelist().count("index.json") == 1
    assert tags == ["1", "2"]


class CountingLayout(OciLayoutStore):
    """A real OCI layout that records how many of its blobs are open at once."""

    open_now = 0
    most = 0

    @asynccontextmanager
    async def open_blob(self, digest: str) -> AsyncIterator[FileBlob]:
        type(self).open_now += 1
        type(self).most = max(type(self).most, type(self).open_now)
        try:
            async with super().open_blob(digest) as blob:
                await asyncio.sleep(0)  # let the other transfers run meanwhile
                yield blob
        finally:
            type(self).open_now -= 1


@pytest.mark.parametrize("small", [True, False], ids=["read-ahead", "streamed"])
async def test_blobs_wait_for_the_archive_within_bounds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small: bool
) -> None:
    """Small blobs are read ahead while another is written, at most
    PREFETCH_SLOTS at once; a blob too big for that is opened only once the
    archive can take it, so a waiting transfer holds no open source blob."""
    if not small:
        monkeypatch.setattr(direct, "PREFETCH_MAX", -1)
    CountingLayout.open_now = CountingLayout.most = 0
    image = images.build_image(31, layer_count=direct.PREFETCH_SLOTS + 4)
    layout = CountingLayout(tmp_path / "layout")
    for blob in image.blobs:
        await layout.put_blob(blob.digest, blob.size, blob.data)
    manifest = parse_manifest(image.manifest)
    archive = Archive(tmp_path / "one.zip")
    store = ArchiveStore(archive, "h.io/team/app")
    transfers = DirectTransfers()
    stats = BlobStats()
    await asyncio.gather(
        *(transfers.ensure_blob(layout, store, blob, stats) for blob in manifest.blobs)
    )
    assert stats.copied == len(manifest.blobs) == direct.PREFETCH_SLOTS + 5
    if small:
        assert 1 < CountingLayout.most <= direct.PREFETCH_SLOTS
    else:
        assert CountingLayout.most == 1
    await store.put_manifest("1", manifest)
    assert await archive.commit()
    await archive.close()
    with zipfile.ZipFile(tmp_path / "one.zip") as z:
        assert z.testzip() is None
        for blob in image.blobs:
            assert z.read(share_name(blob.digest)) == blob.data


async def test_an_archive_the_system_will_not_open_is_an_archive_error(tmp_path: Path) -> None:
    """A directory at the archive's name (or its partial's) is one clear
    error naming the path, for reading and for writing alike."""
    for name in ("out.zip", "out.zip.partial"):
        where = tmp_path / name
        where.mkdir()
        archive = Archive(tmp_path / "out.zip")
        with pytest.raises(ArchiveError, match=r"out\.zip"):
            await archive.index()
        with pytest.raises(ArchiveError, match=r"out\.zip"):
            await archive.write(share_name("sha256:" + "0" * 64), 1, b"x")
        await archive.close()
        where.rmdir()
