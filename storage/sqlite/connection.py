"""SQLite: the connections, their transactions and the schema, shared by every concern.

SQLite allows one writer at a time; funnelling every write through one connection keeps
transactions from interleaving inside this process, and `BEGIN IMMEDIATE` with a busy timeout
serializes writers from other processes sharing the file. The journey's hot path (load, save,
sign, withdraw) runs as whole functions in batches (storage.sqlite.batches: one trip to the
database thread for many steps); the rest takes an asyncio lock for its transaction of several
trips, and the batches wait for it.
"""

from __future__ import annotations

import asyncio
import fcntl
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite

from storage.base import StorageUnavailable
from storage.schema import migration_scripts, split_sql
from storage.sqlite.batches import Batches

BUSY_TIMEOUT_MS = 10_000


@asynccontextmanager
async def _start_up_lock(path: str) -> AsyncIterator[None]:
    """Instances opening one database file take turns to switch it to WAL and migrate it.

    Changing the journal mode needs exclusive access that SQLite's busy timeout does not wait
    for, so a lock file next to the database serializes start-up across processes.
    """
    if path == ":memory:":
        yield
        return
    lock_file = await asyncio.to_thread(open, f"{path}.lock", "a")
    try:
        await asyncio.to_thread(fcntl.flock, lock_file, fcntl.LOCK_EX)
        yield
    finally:
        lock_file.close()  # closing releases the lock


async def first_row(
    db: aiosqlite.Connection, sql: str, parameters: object = ()
) -> sqlite3.Row | None:
    """The first row, in one trip to aiosqlite's thread (a cursor takes three)."""
    rows = await db.execute_fetchall(sql, parameters)  # type: ignore[arg-type]
    return next(iter(rows), None)


async def all_rows(
    db: aiosqlite.Connection, sql: str, parameters: object = ()
) -> list[sqlite3.Row]:
    """Every row, in one trip to aiosqlite's thread."""
    return list(await db.execute_fetchall(sql, parameters))  # type: ignore[arg-type]


class SQLiteConnection:
    """One writer connection and one reader connection (WAL) on one database file."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        self._writes = Batches(lambda: self._db, write=True, gate=self._write_lock)
        self._reads = Batches(lambda: self._read_db, write=False)

    async def open(self) -> None:
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._writer = await self._connect()
        except (OSError, sqlite3.Error) as error:
            reason = getattr(error, "strerror", None) or str(error)
            raise StorageUnavailable(f"cannot open {self.path}: {reason}") from None
        async with _start_up_lock(self.path):
            await self._writer.execute("PRAGMA journal_mode=WAL")
            await self._migrate()
        # An in-memory database is private to its connection: read through the writer then.
        self._reader = self._writer if self.path == ":memory:" else await self._connect()

    async def _connect(self) -> aiosqlite.Connection:
        connection = await aiosqlite.connect(self.path, isolation_level=None)
        await connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        # WAL + NORMAL survives a crash of the process (only a power loss can drop the last
        # commits), at a fraction of FULL's fsync cost.
        await connection.execute("PRAGMA synchronous=NORMAL")
        await connection.execute("PRAGMA foreign_keys=ON")
        return connection

    async def close(self) -> None:
        await self._writes.wait_idle()
        await self._reads.wait_idle()
        for connection in {id(c): c for c in (self._reader, self._writer) if c}.values():
            await connection.close()
        self._reader = self._writer = None

    @property
    def _db(self) -> aiosqlite.Connection:
        if self._writer is None:
            raise RuntimeError("storage is not open")
        return self._writer

    @property
    def _read_db(self) -> aiosqlite.Connection:
        if self._reader is None:
            raise RuntimeError("storage is not open")
        return self._reader

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._write_lock:
            db = self._db
            await db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                await db.execute("ROLLBACK")
                raise
            await db.execute("COMMIT")

    async def _migrate(self) -> None:
        async with self._transaction() as db:
            await db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = await first_row(db, "SELECT COALESCE(MAX(version), 0) FROM schema_version")
            current = row[0] if row else 0
            for version, script in migration_scripts("sqlite"):
                if version > current:
                    for statement in split_sql(script):
                        await db.execute(statement)
                    await db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
