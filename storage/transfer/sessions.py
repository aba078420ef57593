"""Database sessions the transfer reads and writes through, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aiosqlite
import asyncpg

from storage.base import Storage
from storage.postgres import PostgresStorage
from storage.sqlite import SQLiteStorage
from storage.transfer.common import TABLES, Row, TransferError, UsageError
from storage.transfer.conversion import Layout, Schema, _convert

# --- One connection inside one transaction, speaking neutral rows (Python values) ---


class _Session(ABC):
    """SQL below uses `$1`-style parameters and only what both dialects understand."""

    @abstractmethod
    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...

    @abstractmethod
    async def execute(self, sql: str, *args: Any) -> None: ...

    @abstractmethod
    async def schema(self) -> Schema:
        """Every table (but SQLite's own) with its columns and their declared types."""

    @abstractmethod
    def stream(
        self, layout: Layout, table: str, petition_id: str, batch_size: int
    ) -> AsyncIterator[list[Row]]:
        """A petition's rows of one table, every column, at most `batch_size` at a time."""

    @abstractmethod
    async def insert(self, layout: Layout, table: str, rows: Sequence[Row]) -> None: ...


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _column_list(layout: Layout, table: str) -> str:
    return ", ".join(_quote(column) for column in layout.columns[table])


def _select(layout: Layout, table: str) -> str:
    return (
        f"SELECT {_column_list(layout, table)} FROM {table} WHERE petition_id = $1 "
        f"ORDER BY {TABLES[table]}"
    )


class _SQLiteSession(_Session):
    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db

    @staticmethod
    def _sql(sql: str) -> str:
        return re.sub(r"\$(\d+)", r"?\1", sql)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        async with self.db.execute(self._sql(sql), args) as cursor:
            return [tuple(row) for row in await cursor.fetchall()]

    async def execute(self, sql: str, *args: Any) -> None:
        await self.db.execute(self._sql(sql), args)

    async def schema(self) -> Schema:
        rows = await self.fetch(
            "SELECT m.name, c.name, c.type FROM sqlite_master AS m "
            "JOIN pragma_table_info(m.name) AS c "
            "WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite%' ORDER BY m.name, c.cid"
        )
        return _schema(rows)

    async def stream(
        self, layout: Layout, table: str, petition_id: str, batch_size: int
    ) -> AsyncIterator[list[Row]]:
        converters = layout.from_sqlite(table)
        async with self.db.execute(self._sql(_select(layout, table)), (petition_id,)) as cursor:
            while rows := await cursor.fetchmany(batch_size):
                try:
                    batch = [_convert(row, converters) for row in rows]
                except TransferError as error:
                    raise TransferError(f"{table}: {error}") from None
                yield batch

    async def insert(self, layout: Layout, table: str, rows: Sequence[Row]) -> None:
        converters = layout.to_sqlite(table)
        placeholders = ", ".join("?" for _ in layout.columns[table])
        await self.db.executemany(
            f"INSERT INTO {table} ({_column_list(layout, table)}) VALUES ({placeholders})",
            [_convert(row, converters) for row in rows],
        )


class _PostgresSession(_Session):
    def __init__(self, connection: asyncpg.Connection, schema: str | None) -> None:
        self.connection = connection
        self.schema_name = schema

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return [tuple(row) for row in await self.connection.fetch(sql, *args)]

    async def execute(self, sql: str, *args: Any) -> None:
        await self.connection.execute(sql, *args)

    async def schema(self) -> Schema:
        rows = await self.fetch(
            "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c "
            "JOIN information_schema.tables t USING (table_schema, table_name) "
            "WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' "
            "ORDER BY c.table_name, c.ordinal_position"
        )
        return _schema(rows)

    async def stream(
        self, layout: Layout, table: str, petition_id: str, batch_size: int
    ) -> AsyncIterator[list[Row]]:
        cursor = await self.connection.cursor(_select(layout, table), petition_id)
        while rows := await cursor.fetch(batch_size):
            yield [tuple(row) for row in rows]

    async def insert(self, layout: Layout, table: str, rows: Sequence[Row]) -> None:
        await self.connection.copy_records_to_table(
            table, records=rows, columns=list(layout.columns[table]), schema_name=self.schema_name
        )
        if table == "audit_log":  # ids were copied: move the id sequence past them
            await self.connection.execute(
                "SELECT setval(pg_get_serial_sequence('audit_log', 'id'), "
                "(SELECT MAX(id) FROM audit_log))"
            )


def _schema(rows: Sequence[Row]) -> Schema:
    schema: Schema = {}
    for table, column, kind in rows:
        schema.setdefault(table, {})[column] = kind
    return schema


@asynccontextmanager
async def _snapshot(storage: Storage) -> AsyncIterator[_Session]:
    """A read-only transaction: one consistent view of the whole database."""
    if isinstance(storage, SQLiteStorage):
        db = storage._read_db
        await db.execute("BEGIN")  # in WAL mode a read transaction sees one snapshot
        try:
            yield _SQLiteSession(db)
        finally:
            await db.execute("ROLLBACK")
    elif isinstance(storage, PostgresStorage):
        async with (
            storage.pool.acquire() as connection,
            connection.transaction(isolation="repeatable_read", readonly=True),
        ):
            yield _PostgresSession(connection, storage.schema)
    else:
        raise UsageError(f"no transfer support for {type(storage).__name__}")


@asynccontextmanager
async def _write_transaction(storage: Storage) -> AsyncIterator[_Session]:
    """A write transaction: committed when the block ends, rolled back when it raises."""
    if isinstance(storage, SQLiteStorage):
        async with storage._transaction() as db:
            yield _SQLiteSession(db)
    elif isinstance(storage, PostgresStorage):
        async with storage.pool.acquire() as connection, connection.transaction():
            yield _PostgresSession(connection, storage.schema)
    else:
        raise UsageError(f"no transfer support for {type(storage).__name__}")
