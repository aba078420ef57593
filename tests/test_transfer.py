"""Moving a campaign between backends: `python -m storage.transfer --from … --to …`."""

from __future__ import annotations

import asyncio
import math
import shutil
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from storage import open_storage
from storage import transfer as transfer_module
from storage.base import Storage
from storage.postgres import PostgresStorage
from storage.records import Journey, SignatureRequest, Step
from storage.sqlite import SQLiteStorage
from storage.transfer import TABLES, run
from tests.conftest import NOW, execute_raw

REPO = Path(__file__).resolve().parents[1]
MAIN = "five-eyes-organ-harvesting"
SECOND = "second-petition"
JOURNEYS_ONLY = "journeys-only"
COUNTRIES = ["CA", "GB", "US", "AU", "NZ", "DE", "FR", "JP", "IN", "BR", "TW", "UA"]
LANGUAGES = ["en", "fr", "de", "zh_Hant"]
INDIA = timezone(timedelta(hours=5, minutes=30))
SIGNED = Journey(step=Step.SIGNED, name="x", consent=True, meets_minimum_age=True)
WITHDRAWN = 1000  # the supporter with this number in MAIN withdrew: it is never reused
KEYS = {
    "petition_counts": "petition_id",
    "country_counts": "country",
    "signatures": "user_id",
    "journeys": "user_id",
    "audit_log": "id",
    "tallies": ("kind", "key"),
    "milestones": "mark",
}
SUMMARY = [
    f"{MAIN}: 999 signatures, 12 countries, 1,020 journeys copied; counts verified",
    f"{JOURNEYS_ONLY}: 0 signatures, 0 countries, 3 journeys copied; counts verified",
    f"{SECOND}: 200 signatures, 5 countries, 200 journeys copied; counts verified",
]


def request_for(petition_id: str, user: int, country: str, **overrides: Any) -> SignatureRequest:
    base = SignatureRequest(
        petition_id=petition_id,
        user_id=user,
        name=f"Supporter {user}",
        country=country,
        language=LANGUAGES[user % len(LANGUAGES)],
        wants_updates=user % 3 == 0,
        guardian_consent=user % 7 == 0,
        text_version="2026-11-01",
        referred_by=None,
        signed_at=NOW + timedelta(minutes=user, microseconds=user * 7),
    )
    return replace(base, **overrides)


async def build_source(path: Path) -> None:
    """Two petitions with 1,200 supporters, journeys of non-signers, and one withdrawal."""
    storage = SQLiteStorage(path)
    await storage.open()
    codes: dict[int, str] = {}
    for user in range(1, 1001):
        country = COUNTRIES[math.isqrt(user % 144)]  # unevenly spread
        overrides: dict[str, Any] = {}
        if user % 5 == 0:
            overrides["referred_by"] = codes[user // 2]
        if user % 97 == 0:
            overrides["name"] = "Zoë O'Brien 🙂 \u202e; DROP TABLE signatures;--"
        if user % 50 == 0:  # signed with an offset other than UTC: the instant must survive
            overrides["signed_at"] = (NOW + timedelta(minutes=user)).astimezone(INDIA)
        result = await storage.sign(
            request_for(MAIN, user, country, **overrides), replace(SIGNED, country=country)
        )
        codes[user] = result.signature.referral_code
    for user in range(1, 201):  # the same Telegram users sign a second petition
        country = COUNTRIES[user % 5]
        request = request_for(
            SECOND, user, country, signed_at=NOW - timedelta(days=1, seconds=user)
        )
        await storage.sign(request, replace(SIGNED, country=country))
    for user in range(5001, 5021):  # started, not signed (yet)
        journey = Journey(
            step=Step.SEARCH if user % 2 else Step.AGE,
            resume_step=Step.COUNTRY if user % 3 else None,
            country_matches=("DE", "DK") if user % 2 else (),
            country="DE",
            wants_updates=user % 4 == 0,
            referrer=codes[user - 5000],
        )
        await storage.save_journey(
            MAIN,
            user,
            journey,
            message_id=user * 10 if user % 2 else None,
            language="de" if user % 3 else None,
            now=(NOW + timedelta(hours=user % 7)).astimezone(INDIA if user % 2 else UTC),
        )
    for user in range(1, 31):  # signers who came back later
        await storage.save_journey(
            MAIN,
            user,
            Journey(step=Step.DONE, country="CA", name="x", consent=True),
            message_id=900 + user,
            language="fr",
            now=NOW + timedelta(days=2),
        )
    for user in range(1, 4):
        await storage.save_journey(
            JOURNEYS_ONLY, user, Journey(), message_id=user, language="en", now=NOW
        )
    [(country,)] = await execute_raw(
        storage, f"SELECT country FROM signatures WHERE petition_id = '{MAIN}' AND number = 1000"
    )
    await execute_raw(
        storage, f"DELETE FROM signatures WHERE petition_id = '{MAIN}' AND number = 1000"
    )
    await execute_raw(
        storage, f"UPDATE petition_counts SET total = total - 1 WHERE petition_id = '{MAIN}'"
    )
    await execute_raw(
        storage,
        f"UPDATE country_counts SET total = total - 1 "
        f"WHERE petition_id = '{MAIN}' AND country = '{country}'",
    )
    await storage.close()


@pytest.fixture
async def source_url(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A copy of the source database, built once per test session."""
    built = tmp_path_factory.getbasetemp() / "transfer-source.db"
    if not await asyncio.to_thread(built.exists):
        building = built.with_name("transfer-source-building.db")
        await build_source(building)
        wal = Path(f"{building}-wal")
        assert not await asyncio.to_thread(wal.exists)  # closing checkpointed everything
        await asyncio.to_thread(building.replace, built)
    await asyncio.to_thread(shutil.copy, built, tmp_path / "source.db")
    return f"sqlite:///{tmp_path}/source.db"


def neutral(row: dict[str, Any]) -> dict[str, Any]:
    """A SQLite row as Python values (the test's own conversion, not the transfer's)."""
    values = dict(row)
    for column, value in row.items():
        if column in ("wants_updates", "guardian_consent"):
            assert value in (0, 1)
            values[column] = bool(value)
        elif column.endswith("_at") and value is not None:
            values[column] = datetime.fromisoformat(value)
            assert values[column].tzinfo is not None
    return values


async def table_rows(storage: Storage, table: str) -> list[dict[str, Any]]:
    """Every row of a table, every column, sorted by key."""
    if isinstance(storage, SQLiteStorage):
        async with storage._read_db.execute(f"SELECT * FROM {table}") as cursor:
            names = [description[0] for description in cursor.description]
            rows = [dict(zip(names, row, strict=True)) for row in await cursor.fetchall()]
    else:
        assert isinstance(storage, PostgresStorage)
        rows = [dict(row) for row in await storage.pool.fetch(f"SELECT * FROM {table}")]
    order = KEYS[table] if isinstance(KEYS[table], tuple) else (KEYS[table],)
    return sorted(rows, key=lambda row: (row["petition_id"], *(row[key] for key in order)))


async def dump(url: str, *, raw: bool = False) -> dict[str, list[dict[str, Any]]]:
    """The whole database; as Python values unless `raw` (then as SQLite stores them)."""
    storage = open_storage(url)
    await storage.open()
    try:
        tables = {table: await table_rows(storage, table) for table in TABLES}
    finally:
        await storage.close()
    if raw or not isinstance(storage, SQLiteStorage):
        return tables
    return {table: [neutral(row) for row in rows] for table, rows in tables.items()}


async def transfer(source: str, destination: str, *options: str) -> int:
    return await run(["--from", source, "--to", destination, *options])


async def cli(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "storage.transfer",
        *args,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_sqlite_to_postgres_copies_everything(
    source_url: str, postgres_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    batches: list[tuple[str, int]] = []
    insert = transfer_module._PostgresSession.insert

    async def counting_insert(self: Any, layout: Any, table: str, rows: Any) -> None:
        batches.append((table, len(rows)))
        await insert(self, layout, table, rows)

    monkeypatch.setattr(transfer_module._PostgresSession, "insert", counting_insert)
    assert await transfer(source_url, postgres_url, "--batch-size", "128") == 0
    output = capsys.readouterr()
    assert output.out.splitlines() == SUMMARY
    assert output.err == ""
    # Streamed: never more than one batch of rows at a time.
    assert max(size for _, size in batches) == 128
    assert sum(size for table, size in batches if table == "signatures") == 1199
    assert sum(1 for table, _ in batches if table == "signatures") == 8 + 2

    expected = await dump(source_url)
    assert await dump(postgres_url) == expected
    assert len(expected["signatures"]) == 1199 and len(expected["journeys"]) == 1223

    source, destination = open_storage(source_url), open_storage(postgres_url)
    await source.open()
    await destination.open()
    try:
        for petition_id in (MAIN, SECOND, JOURNEYS_ONLY):
            assert await destination.total(petition_id) == await source.total(petition_id)
            assert await destination.country_counts(petition_id) == await source.country_counts(
                petition_id
            )
        supporters = [(row["petition_id"], row["user_id"]) for row in expected["journeys"]]
        for petition_id, user_id in [*supporters, (MAIN, 424242)]:
            mine = await source.load(petition_id, user_id)
            assert await destination.load(petition_id, user_id) == mine
        # Numbers continue after the copy, and the withdrawn number is not handed out again.
        signed = await destination.sign(request_for(MAIN, 7777, "CA"), SIGNED)
        assert (signed.signature.number, signed.total) == (WITHDRAWN + 1, 1000)
        signed = await destination.sign(request_for(SECOND, 7777, "CA"), SIGNED)
        assert (signed.signature.number, signed.total) == (201, 201)
    finally:
        await source.close()
        await destination.close()


async def test_cli_refuses_to_merge_and_replaces_on_request(
    source_url: str, postgres_url: str
) -> None:
    status, out, err = await cli("--from", source_url, "--to", postgres_url)
    assert (status, out.splitlines(), err) == (0, SUMMARY, "")

    destination = open_storage(postgres_url)
    await destination.open()
    await destination.sign(request_for(MAIN, 8888, "GB"), SIGNED)  # the bot ran on PostgreSQL
    await destination.close()
    before = await dump(postgres_url)

    status, out, err = await cli("--from", source_url, "--to", postgres_url)
    assert (status, out) == (2, "")
    assert len(err.splitlines()) == 1
    assert f"already holds data for {MAIN} (1,000 signatures, 1,021 journeys)" in err
    assert "--replace" in err
    assert await dump(postgres_url) == before

    status, out, err = await cli("--from", source_url, "--to", postgres_url, "--replace")
    assert (status, out.splitlines(), err) == (0, SUMMARY, "")
    assert await dump(postgres_url) == await dump(source_url)


async def test_round_trip_through_postgres_gives_identical_data(
    source_url: str, postgres_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    back_url = f"sqlite:///{tmp_path}/back/petition.db"
    assert await transfer(source_url, postgres_url) == 0
    assert await transfer(postgres_url, back_url) == 0
    assert capsys.readouterr().out.splitlines() == SUMMARY + SUMMARY

    original, back = await dump(source_url, raw=True), await dump(back_url, raw=True)
    assert await dump(back_url) == await dump(source_url)
    for table in TABLES:
        for before, after in zip(original[table], back[table], strict=True):
            assert before.keys() == after.keys()
            for column, value in before.items():
                if isinstance(value, str) and column.endswith("_at") and value[-6:] != "+00:00":
                    # PostgreSQL hands timestamps back in UTC: the same instant.
                    assert datetime.fromisoformat(after[column]) == datetime.fromisoformat(value)
                    assert after[column].endswith("+00:00")
                else:
                    assert after[column] == value, (table, column)

    storage = open_storage(back_url)
    await storage.open()
    signed = await storage.sign(request_for(MAIN, 7777, "CA"), SIGNED)
    assert signed.signature.number == WITHDRAWN + 1
    await storage.close()


async def test_a_failed_verification_rolls_the_petition_back(
    source_url: str, postgres_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    insert = transfer_module._PostgresSession.insert

    async def lossy_insert(self: Any, layout: Any, table: str, rows: Any) -> None:
        if table == "signatures" and rows[0][0] == SECOND:
            rows = rows[1:]  # a row lost on the way
        await insert(self, layout, table, rows)

    monkeypatch.setattr(transfer_module._PostgresSession, "insert", lossy_insert)
    assert await transfer(source_url, postgres_url) == 1
    output = capsys.readouterr()
    assert output.out.splitlines() == SUMMARY[:2]  # copied before the failure
    assert "second-petition: verification failed, nothing of it was copied" in output.err
    assert "signatures 200 in the source but 199 copied" in output.err
    copied = await dump(postgres_url)
    petitions = {row["petition_id"] for rows in copied.values() for row in rows}
    assert petitions == {MAIN, JOURNEYS_ONLY}


async def test_bad_arguments_exit_2_and_touch_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], source_url: str
) -> None:
    missing = tmp_path / "missing.db"
    cases: list[tuple[list[str], str]] = [
        (["--from", source_url], "--to"),
        (["--from", "mysql://host/db", "--to", source_url], "unsupported database scheme"),
        (["--from", f"sqlite:///{missing}", "--to", f"sqlite:///{tmp_path}/x.db"], "no such file"),
        (["--from", source_url, "--to", source_url], "the same database"),
        (["--from", source_url, "--to", "sqlite://"], "in-memory"),
        (["--from", source_url, "--to", "postgresql://u:secret@127.0.0.1:1/db"], "cannot open"),
        (["--from", source_url, "--to", f"sqlite:///{tmp_path}/y.db", "--batch-size", "0"], ""),
    ]
    for argv, message in cases:
        assert await run(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err
        assert "secret" not in err
    assert not missing.exists()
    assert not (tmp_path / "x.db").exists()


async def test_an_empty_source_copies_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = SQLiteStorage(tmp_path / "empty.db")
    await empty.open()
    await empty.close()
    assert await transfer(f"sqlite:///{tmp_path}/empty.db", f"sqlite:///{tmp_path}/to.db") == 0
    assert capsys.readouterr().out == "nothing to copy: the source holds no petitions\n"


async def test_columns_or_tables_it_does_not_know_are_refused(
    source_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    destination = f"sqlite:///{tmp_path}/to.db"
    source = open_storage(source_url)
    await source.open()
    await execute_raw(source, "ALTER TABLE journeys ADD COLUMN mood TEXT")
    await source.close()
    assert await transfer(source_url, destination) == 1
    assert "journeys: the source's and the destination's columns differ (mood)" in (
        capsys.readouterr().err
    )
    await source.open()
    await execute_raw(source, "ALTER TABLE journeys DROP COLUMN mood")
    await execute_raw(source, "CREATE TABLE petition_notes (petition_id TEXT, text TEXT)")
    await source.close()
    assert await transfer(source_url, destination) == 1
    assert "tables this transfer does not know how to copy: petition_notes" in (
        capsys.readouterr().err
    )
    assert (await dump(destination))["journeys"] == []
