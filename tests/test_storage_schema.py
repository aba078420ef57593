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


async def test_a_database_of_the_single_petition_release_upgrades_in_place(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Release 8 of the schema (one petition per bot), filled, then opened by this release."""
    dialect = "sqlite" if database_url.startswith("sqlite") else "postgres"
    module = "storage.sqlite.connection" if dialect == "sqlite" else "storage.postgres.connection"
    released = [(version, sql) for version, sql in migration_scripts(dialect) if version <= 8]
    with monkeypatch.context() as patch:
        patch.setattr(f"{module}.migration_scripts", lambda _dialect: released)
        old = open_storage(database_url)
        await old.open()
        for user in (1, 2):
            await old.sign(request_for(user), SIGNED)
        await old.close()
    upgraded = open_storage(database_url)
    await upgraded.open()
    try:
        assert await upgraded.total(PETITION) == 2
        assert (await upgraded.load(PETITION, 2)).signature.number == 2
        assert await upgraded.petitions_of(1) == [PETITION]
        await upgraded.set_focus(1, PETITION, now=NOW)
        assert await upgraded.focus(1) == PETITION
        signed = await upgraded.sign(request_for(3), SIGNED)
        assert (signed.signature.number, signed.total) == (3, 3)
    finally:
        await upgraded.close()
