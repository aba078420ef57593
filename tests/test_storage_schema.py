"""Opening storage: schemes, and migrations when instances start at once."""

from __future__ import annotations

import asyncio

import pytest

from storage import open_storage
from storage.schema import migration_scripts
from tests.conftest import NOW, execute_raw
from tests.stored import PETITION, SIGNED, request_for

TODAY = NOW.date()


async def test_instances_starting_at_once_migrate_once_and_keep_data(database_url: str) -> None:
    first, second, third = (open_storage(database_url) for _ in range(3))
    await asyncio.gather(first.open(), second.open(), third.open())
    await first.sign(request_for(1), SIGNED)
    for storage in (first, second, third):
        await storage.close()
    reopened = open_storage(database_url)
    await reopened.open()
    try:
        assert await reopened.total(PETITION) == 1
        assert (await reopened.load(PETITION, 1)).signature is not None
        versions = await execute_raw(
            reopened, "SELECT COUNT(*), COUNT(DISTINCT version) FROM schema_version"
        )
        dialect = "sqlite" if database_url.startswith("sqlite") else "postgres"
        scripts = len(migration_scripts(dialect))
        assert versions == [(scripts, scripts)]
    finally:
        await reopened.close()


def test_open_storage_rejects_unknown_schemes() -> None:
    with pytest.raises(ValueError, match="DATABASE_URL"):
        open_storage("mysql://localhost/db")
