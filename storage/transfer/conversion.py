"""Which columns to copy, and how values convert between SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from storage.transfer.common import _BOOKKEEPING_TABLES, TABLES, Row, TransferError

# PostgreSQL types SQLite stores the same way (integers and text).
_PLAIN_POSTGRES_TYPES = frozenset({"bigint", "integer", "smallint", "text", "character varying"})
_POSTGRES_BOOLEAN = "boolean"
_POSTGRES_TIMESTAMP = "timestamp with time zone"


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
