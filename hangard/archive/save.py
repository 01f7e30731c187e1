"""``hangard save``: copy images into a Hangar zip archive, each blob once,
streamed registry → zip entry; the archive becomes final (``FILE.zip``)
only when every image is in (``FILE.zip.partial`` until then, which the
same command run again resumes, keeping its complete entries).

* without ``--append``, an existing ``FILE.zip`` is refused (never
  overwritten); with it, the images are added (blobs already there are not
  written again) and the archive is renamed back at the end;
* ``--part-size`` writes ``FILE.zip.001``, ``.002``, … for removable media;
* ``--since OLD.zip`` writes a delta (:mod:`hangard.archive.delta`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from hangard.archive.delta import read_base
from hangard.archive.sources import SaveItem
from hangard.copy import Copier, CopyResult, Progress, TransferSession
from hangard.copy.archived import save_image_attachments
from hangard.copy.verify import verified_source
from hangard.core.attachments import AttachmentSettings
from hangard.core.transports import ArchiveReference
from hangard.errors import HangardError, InputError
from hangard.registry.client import RegistryClient
from hangard.stores.archive.opened import ArchiveSet

__all__ = ["SaveOptions", "SaveReport", "partial_paths", "save", "start_state"]

log = structlog.get_logger("hangard.archive")


@dataclass(frozen=True)
class SaveOptions:
    output: Path
    jobs: int = 4
    append: bool = False
    part_size: int | None = None
    since: Path | None = None
    """Write a delta: leave out the layers this archive holds."""
    attachments: AttachmentSettings | None = field(default_factory=AttachmentSettings)
    """What is saved with each image (``None``: nothing), under its own tag."""


@dataclass(frozen=True)
class SaveReport:
    output: Path
    results: tuple[CopyResult, ...]
    failures: tuple[tuple[SaveItem, HangardError], ...]
    resumed: bool
    """A partial file from an interrupted run was found and continued."""
    appended: bool
    committed: bool
    duration: float = 0.0
    skipped: tuple[CopyResult, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def bytes_moved(self) -> int:
        return sum(r.bytes_moved for r in self.results)


def partial_paths(output: Path) -> list[Path]:
    """The partial files an interrupted save of ``output`` leaves."""
    return [
        p
        for p in (
            output.with_name(output.name + ".partial"),
            output.with_name(output.name + ".001.partial"),
        )
        if p.exists()
    ]


def _finished(output: Path) -> bool:
    return output.is_file() or output.with_name(output.name + ".001").is_file()


def start_state(options: SaveOptions) -> tuple[bool, bool]:
    """(resuming, appending) for a save to ``options.output``; refuses to
    overwrite a finished archive without ``--append``."""
    resuming = bool(partial_paths(options.output))
    finished = _finished(options.output)
    if finished and resuming:
        raise InputError(
            f"{options.output} exists and so does a partial save of it",
            remedy=f"remove {partial_paths(options.output)[0]} or {options.output}",
        )
    if options.since is not None and (options.append or finished):
        raise InputError(
            f"--since writes a new delta archive; {options.output} exists"
            if finished
            else "--since writes a new delta archive: it cannot --append"
        )
    if finished and not options.append:
        raise InputError(
            f"{options.output} exists",
            remedy="add --append to add images to it, or choose another -o",
        )
    return resuming, finished


async def save(
    client: RegistryClient,
    items: Sequence[SaveItem],
    options: SaveOptions,
    *,
    progress: Progress | None = None,
) -> SaveReport:
    """Copy every item into the archive; commit it when all are in."""
    if not items:
        raise InputError("nothing to save: no image was named or selected")
    started = time.monotonic()
    resuming, appending = start_state(options)
    if resuming:
        log.info("resuming an interrupted save", archive=str(options.output))
    session = (
        TransferSession(client) if progress is None else TransferSession(client, progress=progress)
    )
    archives = ArchiveSet(part_size=options.part_size)
    if options.since is not None:
        base = await asyncio.to_thread(read_base, options.since)
        output = archives.get(options.output)
        await output.set_base(base.ref)
        output.base_layers = base.layers
    copier = Copier(client, session, archives)
    gate = asyncio.Semaphore(max(1, options.jobs))

    async def one(item: SaveItem) -> CopyResult | tuple[SaveItem, HangardError]:
        dst = ArchiveReference(str(options.output), item.name.name, item.name.tag)
        async with gate:
            try:  # the policy's check first: what it verified is what is saved
                source = await verified_source(client, item.source, item.requirements)
                result = await copier.copy(source, dst, platforms=item.platforms)
                await _attachments(copier, item, dst, result, options.attachments)
                return result
            except HangardError as exc:
                log.error(
                    "image not saved",
                    image=str(item.source),
                    reason=exc.reason.value,
                    error=str(exc),
                )
                return item, exc

    try:
        outcomes = await asyncio.gather(*(one(i) for i in items))
        results = tuple(o for o in outcomes if isinstance(o, CopyResult))
        failures = tuple(o for o in outcomes if not isinstance(o, CopyResult))
        committed = False
        if not failures:
            await copier.commit()
            committed = True
    finally:
        await copier.close()
    return SaveReport(
        output=options.output,
        results=tuple(r for r in results if not r.skipped),
        failures=failures,
        resumed=resuming,
        appended=appending,
        committed=committed,
        duration=round(time.monotonic() - started, 3),
        skipped=tuple(r for r in results if r.skipped),
    )


async def _attachments(
    copier: Copier,
    item: SaveItem,
    dst: ArchiveReference,
    result: CopyResult,
    settings: AttachmentSettings | None,
) -> None:
    """Save what is attached to the image just saved, beside it."""
    if settings is None or result.skipped or result.converted_from:
        return
    subset = result.target_digest != result.source_digest
    done = await save_image_attachments(
        copier,
        item.source.with_digest(result.source_digest),
        dst,
        item.platforms if subset else (),
        settings,
    )
    if done:
        log.info("attachments saved", image=str(item.source), count=len(done))
