"""Group commit on SQLite: batched, yet each caller gets exactly its own outcome."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
import pytest

from storage.sqlite.batches import Batches


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[aiosqlite.Connection]:
    connection = await aiosqlite.connect(tmp_path / "batches.db", isolation_level=None)
    await connection.execute("PRAGMA journal_mode=WAL")
    await connection.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, note TEXT NOT NULL)")
    yield connection
    await connection.close()


def insert(connection: sqlite3.Connection, item_id: int, note: str) -> int:
    connection.execute("INSERT INTO items (id, note) VALUES (?, ?)", (item_id, note))
    return item_id


def insert_then_fail(connection: sqlite3.Connection, item_id: int) -> None:
    connection.execute("INSERT INTO items (id, note) VALUES (?, 'half done')", (item_id,))
    raise ValueError(f"refused {item_id}")


def read(connection: sqlite3.Connection, item_id: int) -> str | None:
    row = connection.execute("SELECT note FROM items WHERE id = ?", (item_id,)).fetchone()
    return row[0] if row else None


async def notes(db: aiosqlite.Connection) -> dict[int, str]:
    return {row[0]: row[1] for row in await db.execute_fetchall("SELECT id, note FROM items")}


class CountingConnection:
    """Counts the trips to aiosqlite's thread."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db, self.trips = db, 0

    def __call__(self) -> aiosqlite.Connection:
        self.trips += 1
        return self.db


async def test_concurrent_writes_share_one_trip_and_each_gets_its_result(
    db: aiosqlite.Connection,
) -> None:
    connection = CountingConnection(db)
    writes = Batches(connection, write=True)
    results = await asyncio.gather(*(writes.run(insert, n, f"note {n}") for n in range(1, 51)))
    assert results == list(range(1, 51))
    assert connection.trips == 1
    assert len(await notes(db)) == 50


async def test_a_failing_write_rolls_back_only_its_own_work(db: aiosqlite.Connection) -> None:
    writes = Batches(lambda: db, write=True)
    outcomes = await asyncio.gather(
        writes.run(insert, 1, "kept"),
        writes.run(insert_then_fail, 2),
        writes.run(insert, 1, "a duplicate key"),
        writes.run(insert, 3, "kept too"),
        return_exceptions=True,
    )
    assert outcomes[0] == 1 and outcomes[3] == 3
    assert isinstance(outcomes[1], ValueError) and str(outcomes[1]) == "refused 2"
    assert isinstance(outcomes[2], sqlite3.IntegrityError)
    assert await notes(db) == {1: "kept", 3: "kept too"}


async def test_a_single_failing_write_is_rolled_back(db: aiosqlite.Connection) -> None:
    writes = Batches(lambda: db, write=True)
    with pytest.raises(ValueError, match="refused 9"):
        await writes.run(insert_then_fail, 9)
    assert await notes(db) == {}
    assert await writes.run(insert, 9, "then fine") == 9  # no transaction was left open


async def test_reads_are_batched_too(db: aiosqlite.Connection) -> None:
    await Batches(lambda: db, write=True).run(insert, 1, "one")
    connection = CountingConnection(db)
    reads = Batches(connection, write=False)
    assert await asyncio.gather(reads.run(read, 1), reads.run(read, 2)) == ["one", None]
    assert connection.trips == 1


async def test_a_batch_waits_for_a_transaction_of_several_trips(
    db: aiosqlite.Connection,
) -> None:
    gate = asyncio.Lock()
    writes = Batches(lambda: db, write=True, gate=gate)
    async with gate:  # what SQLiteStorage._transaction does
        await db.execute("BEGIN IMMEDIATE")
        await db.execute("INSERT INTO items (id, note) VALUES (1, 'in the long transaction')")
        pending = asyncio.create_task(writes.run(insert, 2, "batched"))
        await asyncio.sleep(0.05)
        assert not pending.done()  # it would otherwise have run inside this transaction
        await db.execute("ROLLBACK")
    assert await pending == 2
    assert await notes(db) == {2: "batched"}


async def test_a_caller_that_stops_waiting_does_not_disturb_the_others(
    db: aiosqlite.Connection,
) -> None:
    writes = Batches(lambda: db, write=True)
    impatient = asyncio.create_task(writes.run(insert, 1, "written anyway"))
    patient = asyncio.create_task(writes.run(insert, 2, "two"))
    await asyncio.sleep(0)
    impatient.cancel()
    assert await patient == 2
    await writes.wait_idle()
    assert await notes(db) == {1: "written anyway", 2: "two"}


async def test_a_batch_that_cannot_run_fails_every_caller(db: aiosqlite.Connection) -> None:
    await db.close()
    writes = Batches(lambda: db, write=True)
    outcomes = await asyncio.gather(
        writes.run(insert, 1, "a"), writes.run(insert, 2, "b"), return_exceptions=True
    )
    assert all(isinstance(outcome, ValueError) for outcome in outcomes)  # "Connection closed"
