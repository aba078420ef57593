"""Shared fixtures: a small petition, storage backends, a fixed clock."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from playwright.async_api import Browser, async_playwright

from bot.petition import Petition
from storage import open_storage
from storage.base import Storage
from storage.postgres import PostgresStorage
from storage.records import SignatureRequest
from storage.sqlite import SQLiteStorage
from tests.clock import NOW
from tests.fakes import FakeBotAPI


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """The tests run on the event loop the bot runs on (bot.app.use_fast_event_loop)."""
    import uvloop

    return {"uvloop": uvloop.new_event_loop}


def petition_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "test-petition",
        "version": "2026-11-01",
        "default_language": "en",
        "goal": 50,
        "targets": ["CA", "GB", "US", "AU", "NZ"],
        "age": {"default": 16, "by_country": {"US": 13}},
        "sources": [{"title": "China Tribunal", "url": "https://chinatribunal.com/"}],
        "text": {
            "en": {
                "title": "Protect prisoners of conscience",
                "summary": "A short summary of why this matters.",
                "background": "Some background with <b>bold</b> facts.",
                "demands": ["First demand.", "Second demand.", "Third demand."],
                "consent": "Your name and country are recorded on this petition.",
                "privacy": "We keep your Telegram id, name and country.",
            },
            "fr": {"title": "Protéger les prisonniers d'opinion"},
        },
    }
    data.update(overrides)
    return data


def make_petition(**overrides: Any) -> Petition:
    return Petition.model_validate(petition_data(**overrides))


@pytest.fixture
def petition() -> Petition:
    return make_petition()


@pytest.fixture
async def sqlite_storage(tmp_path: Path) -> AsyncIterator[SQLiteStorage]:
    storage = SQLiteStorage(tmp_path / "petition.db")
    await storage.open()
    yield storage
    await storage.close()


TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
async def server() -> AsyncIterator[FakeBotAPI]:
    """Our fake Telegram Bot API on 127.0.0.1 (a port the OS picks)."""
    async with FakeBotAPI() as fake:
        yield fake


@asynccontextmanager
async def postgres_schema() -> AsyncIterator[str]:
    """A PostgreSQL URL with a schema of its own, dropped afterwards: runs never collide."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    separator = "&" if "?" in TEST_DATABASE_URL else "?"
    try:
        yield f"{TEST_DATABASE_URL}{separator}schema={schema}"
    finally:
        connection = await asyncpg.connect(TEST_DATABASE_URL)
        try:
            await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await connection.close()


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    async with postgres_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """One database shared by every storage or bot instance of a test, on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/shared.db"
        return
    async with postgres_schema() as url:
        yield url


async def execute_raw(storage: Storage, sql: str) -> list[tuple]:
    """Run SQL behind the storage's back (to simulate drift or damage in tests)."""
    if isinstance(storage, SQLiteStorage):
        async with storage._transaction() as db, db.execute(sql) as cursor:
            return [tuple(row) for row in await cursor.fetchall()]
    assert isinstance(storage, PostgresStorage)
    return [tuple(row) for row in await storage.pool.fetch(sql)]


StorageFactory = Callable[[], Awaitable[Storage]]


@pytest.fixture
async def make_storage(database_url: str) -> AsyncIterator[StorageFactory]:
    """Opens storages on one shared database, as several bot instances would."""
    opened: list[Storage] = []

    async def factory() -> Storage:
        storage = open_storage(database_url)
        await storage.open()
        opened.append(storage)
        return storage

    yield factory
    for storage in opened:
        await storage.close()


@pytest.fixture
async def storage(make_storage: StorageFactory) -> Storage:
    return await make_storage()


def signature_request(petition_id: str, user_id: int, **overrides: Any) -> SignatureRequest:
    """A signature as the service would record it, for tests that sign through storage."""
    values: dict[str, Any] = {
        "petition_id": petition_id,
        "user_id": user_id,
        "name": f"Supporter {user_id}",
        "country": "CA",
        "language": "en",
        "wants_updates": False,
        "guardian_consent": False,
        "text_version": "v1",
        "referred_by": None,
        "signed_at": NOW,
    }
    return SignatureRequest(**{**values, **overrides})


CHROMIUM = "/usr/bin/chromium"  # Debian's chromium: Playwright cannot download browsers here


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Headless Chromium for the browser tests (the README's test command installs it)."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            await launched.close()
