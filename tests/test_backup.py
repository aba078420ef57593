"""The README's backup of a running bot's SQLite database restores with exact counts."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from storage.sqlite import SQLiteStorage
from tests.conftest import execute_raw
from tests.stored import PETITION, SIGNED, request_for

SIGNERS = 300


def online_backup(source: Path, target: Path) -> None:
    """What the README's backup command does: SQLite's online backup API."""
    with sqlite3.connect(source) as live, sqlite3.connect(target) as copy:
        live.backup(copy, pages=16)  # in steps, as a long copy of a busy database would


async def test_a_backup_taken_while_supporters_sign_restores_with_identical_counts(
    tmp_path: Path,
) -> None:
    live = SQLiteStorage(tmp_path / "petition.db")
    await live.open()
    try:
        for user_id in range(1, 51):
            await live.sign(request_for(user_id), SIGNED)

        async def keep_signing() -> None:
            for user_id in range(51, SIGNERS + 1):
                await live.sign(request_for(user_id, "US" if user_id % 3 else "CA"), SIGNED)

        signing = asyncio.create_task(keep_signing())
        await asyncio.sleep(0)  # let it start: the copy is taken mid-stream
        await asyncio.to_thread(online_backup, tmp_path / "petition.db", tmp_path / "backup.db")
        await signing
    finally:
        await live.close()
    restored = SQLiteStorage(tmp_path / "backup.db")
    await restored.open()
    try:
        total = await restored.total(PETITION)
        rows = await execute_raw(restored, "SELECT COUNT(*), MAX(number) FROM signatures")
        assert 50 <= total <= SIGNERS
        assert rows == [(total, total)]  # the counters and the rows agree, numbers gapless
        assert sum((await restored.country_counts(PETITION)).values()) == total
        assert await restored.recount(PETITION) == total  # nothing to repair
    finally:
        await restored.close()
