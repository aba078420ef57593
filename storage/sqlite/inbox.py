"""SQLite: the update inbox, so that each Telegram update is handled once."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from storage.records import Claim
from storage.sqlite.connection import SQLiteConnection, all_rows


class SQLiteInbox(SQLiteConnection):
    """Claims, received and finished updates (storage.base.UpdateInbox)."""

    async def claim_update(
        self,
        bot_id: int,
        update_id: int,
        *,
        owner: str,
        now: datetime,
        lease_until: datetime,
    ) -> Claim:
        # Joins the concurrent journey steps' trip to the database thread (webhook mode
        # claims every update).
        values = {
            "b": bot_id,
            "u": update_id,
            "owner": owner,
            "lease": lease_until.isoformat(),
            "now": now.isoformat(),
        }
        return await self._writes.run(_claim_update, values)

    async def receive_updates(
        self, bot_id: int, updates: list[tuple[int, str]], *, now: datetime
    ) -> list[int]:
        if not updates:
            return []
        # One statement for the batch (getUpdates returns at most 100): 5 variables a row stay
        # far below SQLite's limit of 32,766.
        rows = ", ".join(["(?, ?, '', 'received', ?, ?, ?)"] * len(updates))
        stamp = now.isoformat()
        values = [
            value
            for update_id, payload in updates
            for value in (bot_id, update_id, stamp, stamp, payload)
        ]
        async with self._write_lock:
            fresh = await all_rows(
                self._db,
                "INSERT INTO update_claims "
                "(bot_id, update_id, owner, state, lease_until, updated_at, payload) "
                f"VALUES {rows} ON CONFLICT DO NOTHING RETURNING update_id",
                values,
            )
        return sorted(update_id for (update_id,) in fresh)

    async def unfinished_updates(self, bot_id: int, received_after: datetime) -> list[str]:
        return [
            payload
            for (payload,) in await all_rows(
                self._read_db,
                "SELECT payload FROM update_claims WHERE bot_id = ? AND state <> 'done' "
                "AND payload IS NOT NULL AND updated_at > ? ORDER BY update_id",
                (bot_id, received_after.isoformat()),
            )
        ]

    async def finish_updates(
        self, bot_id: int, update_ids: Sequence[int], *, now: datetime
    ) -> None:
        values = {"b": bot_id, "ids": json.dumps(list(update_ids)), "now": now.isoformat()}
        await self._writes.run(_finish_updates, values)

    async def forget_updates(self, before: datetime) -> int:
        async with self._write_lock:
            cursor = await self._db.execute(
                "DELETE FROM update_claims WHERE updated_at < ?", (before.isoformat(),)
            )
            deleted = cursor.rowcount
            await cursor.close()
            return deleted


_CLAIM_UPDATE = """
    INSERT INTO update_claims (bot_id, update_id, owner, state, lease_until, updated_at)
    VALUES (:b, :u, :owner, 'processing', :lease, :now)
    ON CONFLICT (bot_id, update_id) DO UPDATE SET
        state = 'processing', owner = excluded.owner, lease_until = excluded.lease_until,
        updated_at = excluded.updated_at
    WHERE update_claims.state = 'received'
        OR (update_claims.state = 'processing' AND update_claims.owner <> excluded.owner
            AND update_claims.lease_until < :now)
    RETURNING state
"""


def _claim_update(connection: sqlite3.Connection, values: dict[str, Any]) -> Claim:
    if connection.execute(_CLAIM_UPDATE, values).fetchone() is not None:
        return Claim.OWNED
    row = connection.execute(
        "SELECT state FROM update_claims WHERE bot_id = :b AND update_id = :u", values
    ).fetchone()
    return Claim.DONE if row is not None and row[0] == "done" else Claim.BUSY


def _finish_updates(connection: sqlite3.Connection, values: dict[str, Any]) -> None:
    connection.execute(
        "UPDATE update_claims SET state = 'done', updated_at = :now, payload = NULL "
        "WHERE bot_id = :b AND update_id IN (SELECT value FROM json_each(:ids))",
        values,
    )
