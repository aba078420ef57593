"""SQLite: what admins change while the petition runs, and the audit trail of it."""

from __future__ import annotations

import secrets
from datetime import datetime

from storage.records import AuditEntry
from storage.sqlite.connection import SQLiteConnection, first_row

SECRET_BYTES = 32


class SQLiteLive(SQLiteConnection):
    """Live goal and pause, and the audit log (storage.base.LiveSettings)."""

    async def set_live_goal(self, petition_id: str, goal: int | None) -> None:
        await self._set_live(petition_id, "goal", goal)

    async def set_live_paused(self, petition_id: str, paused: bool | None) -> None:
        await self._set_live(petition_id, "paused", paused)

    async def _set_live(self, petition_id: str, column: str, value: object) -> None:
        assert column in ("goal", "paused")
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO petition_counts (petition_id) VALUES (?) ON CONFLICT DO NOTHING",
                (petition_id,),
            )
            await db.execute(
                f"UPDATE petition_counts SET {column} = ? WHERE petition_id = ?",
                (value, petition_id),
            )

    async def audit(
        self,
        petition_id: str,
        user_id: int,
        action: str,
        detail: str,
        *,
        allowed: bool,
        now: datetime,
    ) -> None:
        async with self._write_lock:
            await self._db.execute(
                "INSERT INTO audit_log (petition_id, user_id, action, detail, allowed, at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (petition_id, user_id, action, detail, allowed, now.isoformat()),
            )

    async def audit_entries(self, petition_id: str, limit: int = 100) -> list[AuditEntry]:
        async with self._read_db.execute(
            "SELECT user_id, action, detail, allowed, at FROM audit_log WHERE petition_id = ? "
            "ORDER BY id DESC LIMIT ?",
            (petition_id, limit),
        ) as cursor:
            return [
                AuditEntry(user_id, action, detail, bool(allowed), datetime.fromisoformat(at))
                async for user_id, action, detail, allowed, at in cursor
            ]

    async def shared_secret(self, name: str) -> bytes:
        async with self._transaction() as db:
            # Two instances at once: the first insert wins, both read it back.
            await db.execute(
                "INSERT INTO bot_secrets (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (name, secrets.token_bytes(SECRET_BYTES)),
            )
            row = await first_row(db, "SELECT value FROM bot_secrets WHERE name = ?", (name,))
        assert row is not None
        return bytes(row[0])
