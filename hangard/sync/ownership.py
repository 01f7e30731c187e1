"""Which target tags hangard wrote: the ownership store that makes pruning
safe (:mod:`hangard.core.prune`).

An embedded SQLite database, ``ownership.db`` in the state dir (stdlib
:mod:`sqlite3`, WAL mode). One row per (target, repository, tag) with the
digest hangard pushed there and when. An attachment tag hangard wrote (a
cosign ``.sig``/``.att``/``.sbom`` tag, or a referrers fallback index it
created or merged) is owned the same way, and ``attached`` links it to each
image digest it was copied with (an index for its children's signatures),
so pruning that image can take its attachments along. A row is committed right after the
push it records, one small transaction per item, so a crash or a kill later
in the cycle never loses ownership of what was written (WAL with
``synchronous=NORMAL`` survives a crash of the process; a power loss may
lose the last commits, which only makes hangard delete less). Reading the
rows of one target is one indexed query.

The schema is versioned by SQLite's ``user_version``; :data:`MIGRATIONS`
brings an older file up to date on open, and a file from a newer hangard is
refused rather than guessed at. The per-item history (``state.json``) stays
where it is: only ownership lives here.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

from hangard.core.prune import Owned
from hangard.errors import OperationError

__all__ = ["MIGRATIONS", "OWNERSHIP_FILE", "SCHEMA_VERSION", "OwnershipStore"]

OWNERSHIP_FILE = "ownership.db"

MIGRATIONS: tuple[str, ...] = (
    # 1: the owned tags
    """
    CREATE TABLE owned (
        target     TEXT NOT NULL,
        repository TEXT NOT NULL,
        tag        TEXT NOT NULL,
        digest     TEXT NOT NULL,
        written_at REAL NOT NULL,
        PRIMARY KEY (target, repository, tag)
    ) WITHOUT ROWID;
    """,
    # 2: which image (digest) each owned attachment tag was copied with
    """
    CREATE TABLE attached (
        target     TEXT NOT NULL,
        repository TEXT NOT NULL,
        tag        TEXT NOT NULL,
        image      TEXT NOT NULL,
        PRIMARY KEY (target, repository, tag, image)
    ) WITHOUT ROWID;
    """,
)
"""``MIGRATIONS[n]`` takes the schema from version ``n`` to ``n + 1``."""

SCHEMA_VERSION = len(MIGRATIONS)


class OwnershipStore:
    """``OwnershipStore.open(path)``; ``close()`` when done."""

    def __init__(self, db: sqlite3.Connection, path: Path | None) -> None:
        self._db = db
        self.path = path

    @classmethod
    def open(cls, path: Path) -> OwnershipStore:
        """Open (creating and migrating as needed) the store at ``path``."""
        try:
            db = sqlite3.connect(path, isolation_level=None, timeout=30)
        except sqlite3.Error as exc:
            raise _error(path, exc) from exc
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            _migrate(db, path)
        except sqlite3.Error as exc:
            db.close()
            raise _error(path, exc) from exc
        except OperationError:
            db.close()
            raise
        return cls(db, path)

    @classmethod
    def in_memory(cls) -> OwnershipStore:
        """A store that forgets everything at exit (tests, a state dir that
        cannot be written)."""
        db = sqlite3.connect(":memory:", isolation_level=None)
        _migrate(db, None)
        return cls(db, None)

    def close(self) -> None:
        self._db.close()

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def record(self, target: str, repository: str, tag: str, digest: str) -> None:
        """hangard just wrote ``digest`` to ``repository:tag`` on ``target``;
        committed before this returns."""
        self._db.execute(
            "INSERT INTO owned (target, repository, tag, digest, written_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (target, repository, tag)"
            " DO UPDATE SET digest = excluded.digest, written_at = excluded.written_at",
            (target, repository, tag, digest, time.time()),
        )

    def record_attachment(
        self, target: str, repository: str, tag: str, digest: str, image: str
    ) -> None:
        """hangard just wrote the attachment ``digest`` to ``repository:tag``
        on ``target`` while copying the image ``image`` (its digest on the
        target); committed before this returns."""
        with self._transaction():
            self.record(target, repository, tag, digest)
            self._db.execute(
                "INSERT OR IGNORE INTO attached (target, repository, tag, image)"
                " VALUES (?, ?, ?, ?)",
                (target, repository, tag, image),
            )

    def forget(self, rows: Iterable[Owned]) -> None:
        """Drop the rows (their tag was deleted, or is gone), in one commit."""
        keys = [(o.target, o.repository, o.tag) for o in rows]
        with self._transaction():
            for table in ("owned", "attached"):
                self._db.executemany(
                    f"DELETE FROM {table} WHERE target = ? AND repository = ? AND tag = ?",
                    keys,
                )

    def owned(self, target: str) -> list[Owned]:
        """Every row of ``target``, sorted; an attachment's with the images
        it was copied with."""
        links: dict[tuple[str, str], set[str]] = {}
        for repository, tag, image in self._db.execute(
            "SELECT repository, tag, image FROM attached WHERE target = ?", (target,)
        ):
            links.setdefault((repository, tag), set()).add(image)
        rows = self._db.execute(
            "SELECT target, repository, tag, digest, written_at FROM owned"
            " WHERE target = ? ORDER BY repository, tag",
            (target,),
        )
        return [
            Owned(t, repo, tag, digest, at, frozenset(links.get((repo, tag), ())))
            for t, repo, tag, digest, at in rows
        ]

    def count(self, target: str) -> int:
        (n,) = self._db.execute("SELECT count(*) FROM owned WHERE target = ?", (target,)).fetchone()
        return int(n)

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *_: object) -> None:
        self._db.execute("COMMIT" if kind is None else "ROLLBACK")


def _migrate(db: sqlite3.Connection, path: Path | None) -> None:
    """Apply the migrations past the file's version, each in its own commit."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise OperationError(
            f"ownership store {path} has schema version {version}; this hangard knows "
            f"up to {SCHEMA_VERSION}",
            remedy="run the hangard version that wrote it, or a newer one",
        )
    for number in range(version, SCHEMA_VERSION):
        with _Transaction(db):
            for statement in _statements(MIGRATIONS[number]):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {number + 1}")


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _error(path: Path, exc: sqlite3.Error) -> OperationError:
    return OperationError(
        f"cannot use the ownership store {path}: {exc}",
        remedy="check that the state dir is writable and the file is not damaged; "
        "without it nothing is pruned",
    )
