"""Copy a campaign's data from one storage backend to another (e.g. SQLite → PostgreSQL).

A campaign that outgrows one machine moves its SQLite file to a shared PostgreSQL database::

    python -m storage.transfer --from sqlite:///petition.db \\
        --to 'postgresql://user@host/db?schema=campaign' [--replace] [--batch-size 5000]

Any backend `storage.open_storage` accepts works on either side (PostgreSQL → SQLite too).
Stop the bot before copying: the copy is a snapshot of the source.

What it does, for every petition found in the source (in any of the tables below):

* opens both databases with `storage.open_storage(url)` + `open()`, which creates or migrates
  their schemas (so both end up on the same schema version);
* refuses, before copying anything, when the destination already holds rows for a petition
  being copied (signatures, counters or journeys): no silent merge. `--replace` deletes that
  petition's rows in the destination first, in the same transaction as the copy;
* copies `petition_counts`, `country_counts`, `signatures`, `journeys`, `audit_log`, `tallies`
  and `milestones`, every column (read
  from the live schemas, so columns added by later migrations come along; a table or column
  only one side has stops the transfer rather than being left behind), as they are: counters
  are not recomputed, and `last_number` travels with them, so signer numbers continue where
  they stopped and a withdrawn number is never handed out again;
* streams rows in batches (`--batch-size`, 5,000 by default) from one consistent snapshot of
  the source into one destination transaction per petition (COPY on PostgreSQL, executemany
  on SQLite), so an interrupted copy leaves nothing half-copied;
* verifies inside that transaction, before committing: total, last number, per-country
  counts, number of signatures, highest signer number and number of journeys must equal the
  source's. A mismatch rolls the petition back;
* prints one line per petition, e.g.
  ``five-eyes-organ-harvesting: 12,345 signatures, 34 countries, 2,001 journeys copied; counts
  verified``.

Values are converted between the dialects: SQLite keeps timestamps as ISO-8601 text with an
offset (text without one is taken as UTC) and booleans as 0/1; PostgreSQL uses timestamptz and
boolean. A timestamp keeps its instant; PostgreSQL gives it back in UTC.

Exit status: 0 copied and verified; 1 a verification failure or a database error while copying
(the petition concerned is rolled back; petitions reported before it stay copied); 2 bad
arguments or URLs, or data already in the destination without `--replace`.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sqlite3
import sys
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiosqlite
import asyncpg

from storage import open_storage
from storage.base import Storage
from storage.postgres import PostgresStorage
from storage.sqlite import SQLiteStorage

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
DEFAULT_BATCH_SIZE = 5_000

Row = tuple[Any, ...]

# Every table a petition owns, in copying order, with the column its rows are streamed along.
TABLES: dict[str, str] = {
    "petition_counts": "petition_id",
    "country_counts": "country",
    "signatures": "number",
    "journeys": "user_id",
    "audit_log": "id",
    "tallies": "kind, key",
    "milestones": "mark",
}
# Not campaign data: the schema's version, which Telegram updates were already processed
# (only useful for a day, and only to the instances that processed them), and broadcasts
# (their deliveries point at Telegram chats of the old instances' run; stop one before moving),
# and which petition each supporter had open last (they open it again with a tap).
_BOOKKEEPING_TABLES = frozenset(
    {"schema_version", "update_claims", "broadcasts", "broadcast_deliveries", "supporter_focus"}
)
# PostgreSQL types SQLite stores the same way (integers and text).
_PLAIN_POSTGRES_TYPES = frozenset({"bigint", "integer", "smallint", "text", "character varying"})
_POSTGRES_BOOLEAN = "boolean"
_POSTGRES_TIMESTAMP = "timestamp with time zone"


class TransferError(Exception):
    """A transfer that cannot go on; the message is one line for the operator."""

    exit_status = EXIT_FAILED


class UsageError(TransferError):
    """Bad arguments or URLs, or a database that cannot be opened."""

    exit_status = EXIT_USAGE


class RefusedError(TransferError):
    """The destination already holds data for a petition and `--replace` was not given."""

    exit_status = EXIT_USAGE


class VerificationError(TransferError):
    """The copy does not match the source (it was rolled back)."""

    exit_status = EXIT_FAILED


@dataclass(frozen=True, slots=True)
class PetitionStats:
    """What verification compares between source and destination for one petition."""

    has_counter: bool
    total: int
    last_number: int
    countries: dict[str, int]  # every country_counts row, zeros included
    signatures: int
    max_number: int
    journeys: int

    @property
    def empty(self) -> bool:
        return not (self.has_counter or self.countries or self.signatures or self.journeys)

    def describe(self) -> str:
        if not (self.signatures or self.journeys):
            return "counters only"
        return f"{_count(self.signatures, 'signature')}, {_count(self.journeys, 'journey')}"


@dataclass(frozen=True, slots=True)
class PetitionReport:
    petition_id: str
    signatures: int
    countries: int
    journeys: int

    def summary(self) -> str:
        return (
            f"{self.petition_id}: {_count(self.signatures, 'signature')}, "
            f"{_count(self.countries, 'country', 'countries')}, "
            f"{_count(self.journeys, 'journey')} copied; counts verified"
        )


def _count(number: int, singular: str, plural: str | None = None) -> str:
    return f"{number:,} {singular if number == 1 else plural or singular + 's'}"


# --- Value conversion (SQLite text/integers ↔ Python values, which asyncpg speaks natively) ---


def _same(value: Any) -> Any:
    return value


def _boolean_from_sqlite(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if value in (0, 1):
        return bool(value)
    raise TransferError(f"not a boolean (0/1) in the SQLite source: {value!r}")


def _timestamp_from_sqlite(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise TransferError(f"not an ISO-8601 timestamp in the SQLite source: {value!r}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _boolean_to_sqlite(value: Any) -> Any:
    return int(value) if isinstance(value, bool) else value


def _timestamp_to_sqlite(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


Converter = Callable[[Any], Any]
Schema = dict[str, dict[str, str]]  # table → column → type, in column order


@dataclass(frozen=True, slots=True)
class Layout:
    """What to copy, read from the live schemas (migrations may add columns).

    `booleans` and `timestamps` ("table.column") are the columns SQLite stores as 0/1 and as
    ISO-8601 text; they are known from the PostgreSQL side. Between two SQLite files (or two
    PostgreSQL schemas) values are copied exactly as stored.
    """

    columns: dict[str, tuple[str, ...]]
    booleans: frozenset[str] = frozenset()
    timestamps: frozenset[str] = frozenset()

    def _converters(
        self, table: str, boolean: Converter, timestamp: Converter
    ) -> tuple[Converter, ...]:
        return tuple(
            boolean
            if f"{table}.{column}" in self.booleans
            else timestamp
            if f"{table}.{column}" in self.timestamps
            else _same
            for column in self.columns[table]
        )

    def from_sqlite(self, table: str) -> tuple[Converter, ...]:
        return self._converters(table, _boolean_from_sqlite, _timestamp_from_sqlite)

    def to_sqlite(self, table: str) -> tuple[Converter, ...]:
        return self._converters(table, _boolean_to_sqlite, _timestamp_to_sqlite)


def _layout(source: Schema, destination: Schema, postgres: Schema | None) -> Layout:
    """The columns both databases share; refuses what would be silently left behind."""
    unknown = sorted(set(source) - set(TABLES) - _BOOKKEEPING_TABLES)
    if unknown:
        raise TransferError(
            f"the source has tables this transfer does not know how to copy: {', '.join(unknown)}"
        )
    columns: dict[str, tuple[str, ...]] = {}
    for table in TABLES:
        if table not in source or table not in destination:
            side = "source" if table not in source else "destination"
            raise TransferError(f"the {side} has no table {table}")
        if set(source[table]) != set(destination[table]):
            difference = sorted(set(source[table]) ^ set(destination[table]))
            raise TransferError(
                f"{table}: the source's and the destination's columns differ "
                f"({', '.join(difference)}); are both on the same version of the bot?"
            )
        columns[table] = tuple(source[table])
    booleans: set[str] = set()
    timestamps: set[str] = set()
    for table in TABLES:
        for column, kind in (postgres or {}).get(table, {}).items():
            if kind == _POSTGRES_BOOLEAN:
                booleans.add(f"{table}.{column}")
            elif kind == _POSTGRES_TIMESTAMP:
                timestamps.add(f"{table}.{column}")
            elif kind not in _PLAIN_POSTGRES_TYPES:
                raise TransferError(f"{table}.{column}: no conversion for PostgreSQL type {kind}")
    return Layout(columns, frozenset(booleans), frozenset(timestamps))


def _convert(row: Sequence[Any], converters: tuple[Converter, ...]) -> Row:
    return tuple(convert(value) for convert, value in zip(converters, row, strict=True))


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


# --- The transfer ---


async def _petitions(session: _Session) -> list[str]:
    rows = await session.fetch(
        " UNION ".join(f"SELECT petition_id FROM {table}" for table in TABLES)
    )
    return sorted(petition_id for (petition_id,) in rows)  # the same order on every backend


async def _stats(session: _Session, petition_id: str) -> PetitionStats:
    counter = await session.fetch(
        "SELECT total, last_number FROM petition_counts WHERE petition_id = $1", petition_id
    )
    countries = await session.fetch(
        "SELECT country, total FROM country_counts WHERE petition_id = $1", petition_id
    )
    [(signatures, max_number)] = await session.fetch(
        "SELECT COUNT(*), COALESCE(MAX(number), 0) FROM signatures WHERE petition_id = $1",
        petition_id,
    )
    [(journeys,)] = await session.fetch(
        "SELECT COUNT(*) FROM journeys WHERE petition_id = $1", petition_id
    )
    total, last_number = counter[0] if counter else (0, 0)
    return PetitionStats(
        has_counter=bool(counter),
        total=total,
        last_number=last_number,
        countries=dict(countries),
        signatures=signatures,
        max_number=max_number,
        journeys=journeys,
    )


def _differences(source: PetitionStats, copied: PetitionStats) -> list[str]:
    problems = [
        f"{name} {expected:,} in the source but {actual:,} copied"
        for name, expected, actual in (
            ("total", source.total, copied.total),
            ("last number", source.last_number, copied.last_number),
            ("signatures", source.signatures, copied.signatures),
            ("highest number", source.max_number, copied.max_number),
            ("journeys", source.journeys, copied.journeys),
        )
        if expected != actual
    ]
    if source.has_counter != copied.has_counter:
        problems.append("the petition's counter row is missing or extra")
    countries = sorted(set(source.countries) | set(copied.countries))
    problems += [
        f"{country} {source.countries.get(country)} in the source "
        f"but {copied.countries.get(country)} copied"
        for country in countries
        if source.countries.get(country) != copied.countries.get(country)
    ]
    return problems


def _warn_about_drift(petition_id: str, stats: PetitionStats) -> None:
    if stats.total != stats.signatures or sum(stats.countries.values()) != stats.signatures:
        print(
            f"warning: {petition_id}: the source's counters (total {stats.total:,}, countries "
            f"{sum(stats.countries.values()):,}) disagree with its {stats.signatures:,} "
            "signatures; copied as they are (storage.recount() repairs them)",
            file=sys.stderr,
        )


async def _copy_petition(
    source: _Session,
    destination: Storage,
    layout: Layout,
    petition_id: str,
    expected: PetitionStats,
    *,
    replace: bool,
    batch_size: int,
) -> PetitionReport:
    try:
        async with _write_transaction(destination) as target:
            existing = await _stats(target, petition_id)
            if not existing.empty:
                if not replace:  # written since the check before copying began
                    raise RefusedError(_refusal([(petition_id, existing)]))
                for table in reversed(TABLES):
                    await target.execute(f"DELETE FROM {table} WHERE petition_id = $1", petition_id)
            for table in TABLES:
                rows = source.stream(layout, table, petition_id, batch_size)
                async with aclosing(rows) as batches:
                    async for batch in batches:
                        await target.insert(layout, table, batch)
            copied = await _stats(target, petition_id)
            problems = _differences(expected, copied)
            if problems:  # raising rolls the petition back
                raise VerificationError(
                    f"{petition_id}: verification failed, nothing of it was copied: "
                    + "; ".join(problems)
                )
    except (RefusedError, VerificationError):
        raise
    except TransferError as error:  # a value that cannot be converted
        raise TransferError(f"{petition_id}: {error}; the petition was rolled back") from error
    except (sqlite3.Error, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        raise TransferError(
            f"{petition_id}: copying failed and was rolled back: "
            f"{type(error).__name__}: {_one_line(error)}"
        ) from error
    return PetitionReport(
        petition_id,
        signatures=copied.signatures,
        countries=sum(1 for total in copied.countries.values() if total > 0),
        journeys=copied.journeys,
    )


def _refusal(conflicts: Sequence[tuple[str, PetitionStats]]) -> str:
    held = ", ".join(f"{petition_id} ({stats.describe()})" for petition_id, stats in conflicts)
    return (
        f"the destination already holds data for {held}; nothing copied "
        "(use --replace to delete it there and copy again)"
    )


async def transfer(
    source_url: str,
    destination_url: str,
    *,
    replace: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_copied: Callable[[PetitionReport], None] | None = None,
) -> list[PetitionReport]:
    """Copy every petition from one database to another; raises `TransferError` subclasses."""
    if batch_size < 1:
        raise UsageError("the batch size must be at least 1")
    _check_urls(source_url, destination_url)
    source = await _open(source_url, "source")
    try:
        destination = await _open(destination_url, "destination")
        try:
            return await _transfer_between(
                source, destination, replace=replace, batch_size=batch_size, on_copied=on_copied
            )
        finally:
            await destination.close()
    finally:
        await source.close()


async def _transfer_between(
    source: Storage,
    destination: Storage,
    *,
    replace: bool,
    batch_size: int,
    on_copied: Callable[[PetitionReport], None] | None,
) -> list[PetitionReport]:
    reports: list[PetitionReport] = []
    async with _snapshot(source) as reader:
        async with _snapshot(destination) as target:
            source_schema, destination_schema = await reader.schema(), await target.schema()
            postgres = [
                schema
                for storage, schema in ((source, source_schema), (destination, destination_schema))
                if isinstance(storage, PostgresStorage)
            ]
            # Values need converting only between SQLite and PostgreSQL; PostgreSQL's types say how.
            layout = _layout(
                source_schema, destination_schema, postgres[0] if len(postgres) == 1 else None
            )
            petitions = await _petitions(reader)
            expected = {petition_id: await _stats(reader, petition_id) for petition_id in petitions}
            held = [(petition_id, await _stats(target, petition_id)) for petition_id in petitions]
        conflicts = [(petition_id, stats) for petition_id, stats in held if not stats.empty]
        if conflicts and not replace:
            raise RefusedError(_refusal(conflicts))
        for petition_id in petitions:
            _warn_about_drift(petition_id, expected[petition_id])
            report = await _copy_petition(
                reader,
                destination,
                layout,
                petition_id,
                expected[petition_id],
                replace=replace,
                batch_size=batch_size,
            )
            reports.append(report)
            if on_copied is not None:
                on_copied(report)
    return reports


# --- URLs ---


def redact(url: str) -> str:
    """A URL fit for printing: any password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def _identity(storage: Storage) -> tuple[str, ...]:
    if isinstance(storage, SQLiteStorage):
        return ("sqlite", str(Path(storage.path).resolve()))
    if isinstance(storage, PostgresStorage):
        return (
            "postgresql",
            storage.dsn.replace("postgres://", "postgresql://", 1),
            storage.schema or "",
        )
    return (type(storage).__name__, str(id(storage)))


def _check_urls(source_url: str, destination_url: str) -> None:
    storages = []
    for role, url in (("source", source_url), ("destination", destination_url)):
        try:
            storage = open_storage(url)  # not opened: this only parses the URL
        except ValueError as error:
            raise UsageError(f"--{'from' if role == 'source' else 'to'}: {error}") from None
        if isinstance(storage, SQLiteStorage) and storage.path == ":memory:":
            raise UsageError(f"the {role} {redact(url)} is an in-memory SQLite database")
        storages.append(storage)
    source, destination = storages
    if isinstance(source, SQLiteStorage) and not Path(source.path).is_file():
        raise UsageError(f"the source {redact(source_url)}: no such file {source.path}")
    if _identity(source) == _identity(destination):
        raise UsageError("the source and the destination are the same database")


async def _open(url: str, role: str) -> Storage:
    storage = open_storage(url)
    try:
        await storage.open()
    except (OSError, ValueError, sqlite3.Error, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
        await storage.close()
        raise UsageError(
            f"cannot open the {role} {redact(url)}: {type(e).__name__}: {_one_line(e)}"
        ) from None
    return storage


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or repr(error)


# --- Command line ---


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m storage.transfer",
        description="Copy every petition's signatures, counters and journeys from one "
        "database to another (e.g. SQLite to PostgreSQL), then verify the counts.",
    )
    parser.add_argument(
        "--from", dest="source", required=True, metavar="URL", help="e.g. sqlite:///petition.db"
    )
    parser.add_argument(
        "--to",
        dest="destination",
        required=True,
        metavar="URL",
        help="e.g. postgresql://user@host/db?schema=campaign",
    )
    parser.add_argument(
        "--replace",
        action="store_true",
        help="delete a petition's rows in the destination before copying it (default: refuse)",
    )
    parser.add_argument(
        "--batch-size",
        type=_positive,
        default=DEFAULT_BATCH_SIZE,
        metavar="N",
        help=f"rows per batch (default {DEFAULT_BATCH_SIZE:,})",
    )
    return parser


async def run(argv: Sequence[str] | None = None) -> int:
    """The command line, for an event loop that is already running; returns the exit status."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exit_:  # argparse has printed the usage (or the help)
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    try:
        reports = await transfer(
            args.source,
            args.destination,
            replace=args.replace,
            batch_size=args.batch_size,
            on_copied=lambda report: print(report.summary(), flush=True),
        )
    except TransferError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_status
    if not reports:
        print("nothing to copy: the source holds no petitions")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(run(argv))


if __name__ == "__main__":
    sys.exit(main())
