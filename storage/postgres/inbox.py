"""PostgreSQL: the update inbox, so that each Telegram update is handled once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from storage.postgres.connection import PostgresConnection
from storage.records import Claim


class PostgresInbox(PostgresConnection):
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
        claimed = await self.pool.fetchval(
            """INSERT INTO update_claims (bot_id, update_id, owner, state, lease_until, updated_at)
               VALUES ($1, $2, $3, 'processing', $4, $5)
               ON CONFLICT (bot_id, update_id) DO UPDATE SET
                   state = 'processing', owner = excluded.owner,
                   lease_until = excluded.lease_until, updated_at = excluded.updated_at
               WHERE update_claims.state = 'received'
                   OR (update_claims.state = 'processing'
                       AND update_claims.owner <> excluded.owner
                       AND update_claims.lease_until < $5)
               RETURNING state""",
            bot_id,
            update_id,
            owner,
            lease_until,
            now,
        )
        if claimed is not None:
            return Claim.OWNED
        state = await self.pool.fetchval(
            "SELECT state FROM update_claims WHERE bot_id = $1 AND update_id = $2",
            bot_id,
            update_id,
        )
        return Claim.DONE if state == "done" else Claim.BUSY

    async def receive_updates(
        self, bot_id: int, updates: list[tuple[int, str]], *, now: datetime
    ) -> list[int]:
        if not updates:
            return []
        rows = await self.pool.fetch(
            "INSERT INTO update_claims "
            "(bot_id, update_id, owner, state, lease_until, updated_at, payload) "
            "SELECT $1, update_id, '', 'received', $3, $3, payload "
            "FROM unnest($2::bigint[], $4::text[]) AS batch (update_id, payload) "
            "ON CONFLICT DO NOTHING RETURNING update_id",
            bot_id,
            [update_id for update_id, _ in updates],
            now,
            [payload for _, payload in updates],
        )
        return sorted(row["update_id"] for row in rows)

    async def unfinished_updates(self, bot_id: int, received_after: datetime) -> list[str]:
        rows = await self.pool.fetch(
            "SELECT payload FROM update_claims WHERE bot_id = $1 AND state <> 'done' "
            "AND payload IS NOT NULL AND updated_at > $2 ORDER BY update_id",
            bot_id,
            received_after,
        )
        return [row["payload"] for row in rows]

    async def finish_updates(
        self, bot_id: int, update_ids: Sequence[int], *, now: datetime
    ) -> None:
        await self.pool.execute(
            "UPDATE update_claims SET state = 'done', updated_at = $3, payload = NULL "
            "WHERE bot_id = $1 AND update_id = ANY($2::bigint[])",
            bot_id,
            list(update_ids),
            now,
        )

    async def forget_updates(self, before: datetime) -> int:
        status = await self.pool.execute("DELETE FROM update_claims WHERE updated_at < $1", before)
        return int(status.split()[-1])
