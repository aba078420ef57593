"""PostgreSQL: what admins change while the petition runs, and the audit trail of it."""

from __future__ import annotations

import secrets
from datetime import datetime

from storage.postgres.connection import PostgresConnection
from storage.records import AuditEntry

SECRET_BYTES = 32


class PostgresLive(PostgresConnection):
    """Live goal and pause, and the audit log (storage.base.LiveSettings)."""

    async def set_live_goal(self, petition_id: str, goal: int | None) -> None:
        await self._set_live(petition_id, "goal", goal)

    async def set_live_paused(self, petition_id: str, paused: bool | None) -> None:
        await self._set_live(petition_id, "paused", paused)

    async def _set_live(self, petition_id: str, column: str, value: object) -> None:
        assert column in ("goal", "paused")
        await self.pool.execute(
            f"INSERT INTO petition_counts (petition_id, {column}) VALUES ($1, $2) "
            f"ON CONFLICT (petition_id) DO UPDATE SET {column} = excluded.{column}",
            petition_id,
            value,
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
        await self.pool.execute(
            "INSERT INTO audit_log (petition_id, user_id, action, detail, allowed, at) "
            "VALUES ($1, $2, $3, $4, $5, $6)",
            petition_id,
            user_id,
            action,
            detail,
            allowed,
            now,
        )

    async def audit_entries(self, petition_id: str, limit: int = 100) -> list[AuditEntry]:
        rows = await self.pool.fetch(
            "SELECT user_id, action, detail, allowed, at FROM audit_log WHERE petition_id = $1 "
            "ORDER BY id DESC LIMIT $2",
            petition_id,
            limit,
        )
        return [
            AuditEntry(row["user_id"], row["action"], row["detail"], row["allowed"], row["at"])
            for row in rows
        ]

    async def shared_secret(self, name: str) -> bytes:
        # Two instances at once: the first insert wins, both read it back.
        await self.pool.execute(
            "INSERT INTO bot_secrets (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            name,
            secrets.token_bytes(SECRET_BYTES),
        )
        value = await self.pool.fetchval("SELECT value FROM bot_secrets WHERE name = $1", name)
        return bytes(value)
