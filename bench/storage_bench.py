"""Storage at 10k, 1M and 10M signatures: the count read, signing throughput, size on disk.

Filling a database to 10M through `sign()` would take hours, so the rows up to each size are
bulk-loaded (executemany on SQLite, COPY on PostgreSQL: signatures and their journeys, with
the counters set to match), and at each size the bot's own paths are measured:

- the count read: `Storage.total()` one call at a time (what every screen shows), p50/p99;
- signing: `Storage.sign()` for new supporters, 32 at a time (a transaction each, as the bot
  does on "Sign now"), signatures per second;
- for contrast, a naive `SELECT COUNT(*)` over the signatures (what the baseline bot does);
- database size (tables + indexes) per million signatures.
"""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
import statistics
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from bench.journeys import drop_schema, postgres_url
from storage import open_storage
from storage.base import Storage
from storage.postgres import split_schema
from storage.records import Journey, SignatureRequest, Step
from storage.rows import journey_to_json

PETITION = "bench-petition"
COUNTRIES = ("CA", "GB", "US", "AU", "NZ", "DE", "FR", "IN")
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
BULK_USER_BASE = 10_000_000
SIGN_USER_BASE = 5_000_000_000
CHUNK = 100_000
COUNT_READS = 2000
SIGN_CONCURRENCY = 32


def _answers_template() -> str:
    """A signed journey's stored answers, with NAME/COUNTRY to fill in (json once, not per row)."""
    journey = replace(Journey(), step=Step.DONE, country="@C@", name="@N@", consent=True)
    return journey_to_json(journey)


def _rows(
    first: int, count: int, petition: str = PETITION
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Signature and journey rows for signer numbers first..first+count-1 (Python values)."""
    template = _answers_template()
    codes = secrets.token_urlsafe(9 * count)  # one call: 12 URL-safe characters per signer
    signatures, journeys = [], []
    for index, number in enumerate(range(first, first + count)):
        country = COUNTRIES[number % len(COUNTRIES)]
        signed_at = EPOCH + timedelta(seconds=number)
        user_id = BULK_USER_BASE + number
        name = f"Supporter {number}"
        signatures.append(
            (
                petition,
                user_id,
                number,
                name,
                country,
                "en",
                number % 3 == 0,
                False,
                "v1",
                codes[index * 12 : index * 12 + 12],
                None,
                signed_at,
            )
        )
        answers = template.replace("@C@", country).replace("@N@", name)
        journeys.append((petition, user_id, "done", answers, None, "en", signed_at))
    return signatures, journeys


_SIGNATURE_COLUMNS = (
    "petition_id, user_id, number, name, country, language, wants_updates, guardian_consent, "
    "text_version, referral_code, referred_by, signed_at"
)
_JOURNEY_COLUMNS = "petition_id, user_id, step, answers, message_id, language, updated_at"


def _sqlite_bulk(path: str, first: int, count: int, petition: str = PETITION) -> None:
    """Append signatures first..first+count-1 and their journeys; move the counters along.
    Every third signer asked for updates."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA busy_timeout=60000")
        connection.execute("PRAGMA cache_size=-1000000")  # 1 GB: random referral codes
        connection.execute("PRAGMA synchronous=OFF")  # a bench fill, not the bot's writes
        for start in range(first, first + count, CHUNK):
            size = min(CHUNK, first + count - start)
            signatures, journeys = _rows(start, size, petition)
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(
                f"INSERT INTO signatures ({_SIGNATURE_COLUMNS}) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(*row[:11], row[11].isoformat()) for row in signatures],
            )
            connection.executemany(
                f"INSERT INTO journeys ({_JOURNEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(*row[:6], row[6].isoformat()) for row in journeys],
            )
            connection.execute(
                "INSERT INTO petition_counts (petition_id, total, last_number) VALUES (?, ?, ?) "
                "ON CONFLICT (petition_id) DO UPDATE SET total = total + excluded.total, "
                "last_number = excluded.last_number",
                (petition, size, start + size - 1),
            )
            per_country: dict[str, int] = {}
            for row in signatures:
                per_country[row[4]] = per_country.get(row[4], 0) + 1
            connection.executemany(
                "INSERT INTO country_counts (petition_id, country, total) VALUES (?, ?, ?) "
                "ON CONFLICT (petition_id, country) DO UPDATE SET total = total + excluded.total",
                [(petition, country, total) for country, total in per_country.items()],
            )
            connection.execute("COMMIT")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()


async def _postgres_bulk(database_url: str, first: int, count: int) -> None:
    dsn, schema = split_schema(database_url)
    connection = await asyncpg.connect(dsn, server_settings={"search_path": schema or "public"})
    try:
        for start in range(first, first + count, CHUNK):
            size = min(CHUNK, first + count - start)
            signatures, journeys = _rows(start, size)
            async with connection.transaction():
                await connection.copy_records_to_table(
                    "signatures",
                    records=signatures,
                    columns=[name.strip() for name in _SIGNATURE_COLUMNS.split(",")],
                    schema_name=schema,
                )
                await connection.copy_records_to_table(
                    "journeys",
                    records=journeys,
                    columns=[name.strip() for name in _JOURNEY_COLUMNS.split(",")],
                    schema_name=schema,
                )
                await connection.execute(
                    "INSERT INTO petition_counts (petition_id, total, last_number) "
                    "VALUES ($1, $2, $3) ON CONFLICT (petition_id) DO UPDATE SET "
                    "total = petition_counts.total + excluded.total, "
                    "last_number = excluded.last_number",
                    PETITION,
                    size,
                    start + size - 1,
                )
                per_country: dict[str, int] = {}
                for row in signatures:
                    per_country[row[4]] = per_country.get(row[4], 0) + 1
                await connection.executemany(
                    "INSERT INTO country_counts (petition_id, country, total) VALUES ($1, $2, $3) "
                    "ON CONFLICT (petition_id, country) DO UPDATE "
                    "SET total = country_counts.total + excluded.total",
                    [(PETITION, country, total) for country, total in per_country.items()],
                )
        await connection.execute("ANALYZE signatures")
        await connection.execute("ANALYZE journeys")
    finally:
        await connection.close()


def _file_size(path: str) -> int:
    """The database file and its write-ahead log."""
    files = [Path(f"{path}{suffix}") for suffix in ("", "-wal")]
    return sum(file.stat().st_size for file in files if file.exists())


async def _size(database_url: str, path: str | None) -> int:
    if path is not None:
        return await asyncio.to_thread(_file_size, path)
    dsn, schema = split_schema(database_url)
    connection = await asyncpg.connect(dsn)
    try:
        return int(
            await connection.fetchval(
                "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = $1 AND c.relkind = 'r'",
                schema,
            )
        )
    finally:
        await connection.close()


async def _naive_count_ms(database_url: str, path: str | None) -> float:
    """One `SELECT COUNT(*)` over the signatures, as the baseline bot reads its count."""
    query = "SELECT COUNT(*) FROM signatures WHERE petition_id = "
    if path is not None:

        def count() -> float:
            connection = sqlite3.connect(path)
            try:
                started = time.perf_counter()
                connection.execute(query + "?", (PETITION,)).fetchone()
                return time.perf_counter() - started
            finally:
                connection.close()

        return round(await asyncio.to_thread(count) * 1000, 2)
    dsn, schema = split_schema(database_url)
    connection = await asyncpg.connect(dsn, server_settings={"search_path": schema or "public"})
    try:
        started = time.perf_counter()
        await connection.fetchval(query + "$1", PETITION)
        return round((time.perf_counter() - started) * 1000, 2)
    finally:
        await connection.close()


async def _count_reads(storage: Storage, total: int) -> dict[str, float]:
    timings = []
    for _ in range(COUNT_READS):
        started = time.perf_counter()
        value = await storage.total(PETITION)
        timings.append(time.perf_counter() - started)
    if value != total:
        raise RuntimeError(f"total() read {value}, expected {total}")
    quantiles = statistics.quantiles(timings, n=100)
    return {
        "count_read_p50_ms": round(quantiles[49] * 1000, 3),
        "count_read_p99_ms": round(quantiles[98] * 1000, 3),
    }


async def _signs(storage: Storage, first_user: int, count: int) -> dict[str, float]:
    """`count` new signatures through `Storage.sign()`, SIGN_CONCURRENCY at a time."""
    queue = list(range(first_user, first_user + count))
    journey = replace(Journey(), step=Step.SIGNED, country="CA", name="New Signer", consent=True)
    latencies: list[float] = []

    async def signer() -> None:
        while queue:
            user_id = queue.pop()
            request = SignatureRequest(
                petition_id=PETITION,
                user_id=user_id,
                name="New Signer",
                country="CA",
                language="en",
                wants_updates=True,
                guardian_consent=False,
                text_version="v1",
                referred_by=None,
                signed_at=datetime.now(UTC),
            )
            started = time.perf_counter()
            result = await storage.sign(request, journey, ("signed",))
            latencies.append(time.perf_counter() - started)
            assert result.created

    started = time.perf_counter()
    await asyncio.gather(*(signer() for _ in range(SIGN_CONCURRENCY)))
    seconds = time.perf_counter() - started
    quantiles = statistics.quantiles(latencies, n=100)
    return {
        "sign_per_second": round(count / seconds, 1),
        "sign_p99_ms": round(quantiles[98] * 1000, 2),
    }


async def run_backend(
    sizes: list[int], database_url: str | None, sign_sample: int
) -> list[dict[str, Any]]:
    """Grow one database through `sizes`; measure at each."""
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder:
        path = None if database_url else str(Path(folder) / "storage.db")
        url = database_url or f"sqlite:///{path}"
        storage = open_storage(url)
        await storage.open()
        try:
            loaded = 0  # bulk signatures so far (numbers 1..loaded)
            signed = 0  # signatures through sign() so far
            for size in sizes:
                bulk = size - loaded - signed
                started = time.perf_counter()
                if bulk > 0:
                    # Numbers continue after those sign() handed out.
                    first = loaded + signed + 1
                    if path is not None:
                        await asyncio.to_thread(_sqlite_bulk, path, first, bulk)
                    else:
                        await _postgres_bulk(url, first, bulk)
                    loaded += bulk
                load_seconds = time.perf_counter() - started
                total = loaded + signed
                row: dict[str, Any] = {
                    "backend": url.split(":", 1)[0],
                    "signatures": total,
                    "bulk_load_rows_per_second": round(bulk / load_seconds) if bulk > 0 else None,
                }
                row["naive_count_ms"] = await _naive_count_ms(url, path)
                row.update(await _signs(storage, SIGN_USER_BASE + signed, sign_sample))
                signed += sign_sample
                row.update(await _count_reads(storage, loaded + signed))
                size_bytes = await _size(url, path)
                row["database_mb"] = round(size_bytes / 2**20, 1)
                row["mb_per_million"] = round(size_bytes / 2**20 / (loaded + signed) * 1e6, 1)
                rows.append(row)
        finally:
            await storage.close()
            if database_url:
                await drop_schema(database_url)
    return rows


async def run(
    sizes: list[int], postgres_base: str | None, sign_sample: int
) -> list[dict[str, Any]]:
    rows = await run_backend(sizes, None, sign_sample)
    if postgres_base:
        rows += await run_backend(sizes, postgres_url(postgres_base, "storage"), sign_sample)
    return rows
