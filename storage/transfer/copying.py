"""The transfer itself: every petition copied in its own verified transaction."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable, Sequence
from contextlib import aclosing

import asyncpg

from storage.base import Storage
from storage.postgres import PostgresStorage
from storage.transfer.common import (
    DEFAULT_BATCH_SIZE,
    TABLES,
    PetitionReport,
    PetitionStats,
    RefusedError,
    TransferError,
    UsageError,
    VerificationError,
)
from storage.transfer.conversion import Layout, _layout
from storage.transfer.sessions import _Session, _snapshot, _write_transaction
from storage.transfer.urls import _check_urls, _one_line, _open

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
