"""PostgreSQL: broadcasts and their deliveries, exactly once per recipient."""

from __future__ import annotations

from datetime import datetime

from storage.postgres.connection import PostgresConnection
from storage.records import Broadcast, BroadcastState, Delivery
from storage.rows import BROADCAST_COLUMNS


class PostgresBroadcasts(PostgresConnection):
    """Broadcasts, their lease, recipients and deliveries (storage.base.BroadcastStore)."""

    async def create_broadcast(
        self, petition_id: str, created_by: int, text: str, *, now: datetime
    ) -> int:
        return await self.pool.fetchval(
            "INSERT INTO broadcasts (petition_id, text, created_by, created_at, state) "
            "VALUES ($1, $2, $3, $4, $5) RETURNING id",
            petition_id,
            text,
            created_by,
            now,
            BroadcastState.DRAFT.value,
        )

    async def get_broadcast(self, broadcast_id: int) -> Broadcast | None:
        return await self._broadcast_where("id = $1", broadcast_id)

    async def latest_broadcast(self, petition_id: str) -> Broadcast | None:
        return await self._broadcast_where(
            "petition_id = $1 AND state <> 'draft' AND state <> 'cancelled' ORDER BY id DESC",
            petition_id,
        )

    async def _broadcast_where(self, where: str, argument: object) -> Broadcast | None:
        row = await self.pool.fetchrow(
            f"SELECT {BROADCAST_COLUMNS} FROM broadcasts WHERE {where} LIMIT 1", argument
        )
        if row is None:
            return None
        counts = await self.pool.fetch(
            "SELECT state, COUNT(*) AS n FROM broadcast_deliveries WHERE broadcast_id = $1 "
            "GROUP BY state",
            row["id"],
        )
        return Broadcast(
            id=row["id"],
            petition_id=row["petition_id"],
            text=row["text"],
            created_by=row["created_by"],
            created_at=row["created_at"],
            state=BroadcastState(row["state"]),
            progress={Delivery(count["state"]): count["n"] for count in counts},
            owner=row["owner"],
            lease_until=row["lease_until"],
        )

    async def set_broadcast_state(
        self, broadcast_id: int, state: BroadcastState, *, expected: BroadcastState
    ) -> bool:
        changed = await self.pool.fetchval(
            "UPDATE broadcasts SET state = $1 WHERE id = $2 AND state = $3 RETURNING id",
            state.value,
            broadcast_id,
            expected.value,
        )
        return changed is not None

    async def lease_broadcast(
        self, petition_id: str, *, owner: str, now: datetime, lease_until: datetime
    ) -> Broadcast | None:
        broadcast_id = await self.pool.fetchval(
            _LEASE_BROADCAST, petition_id, owner, now, lease_until
        )
        return None if broadcast_id is None else await self.get_broadcast(broadcast_id)

    async def claim_recipients(self, broadcast_id: int, limit: int, *, now: datetime) -> list[int]:
        async with self.pool.acquire() as connection, connection.transaction():
            # One claimer at a time per broadcast, so two never take the same next ids.
            await connection.execute(
                "SELECT 1 FROM broadcasts WHERE id = $1 FOR UPDATE", broadcast_id
            )
            claimed = await connection.fetch(_CLAIM_RECIPIENTS, broadcast_id, limit, now)
        return sorted(row["user_id"] for row in claimed)

    async def left_over_recipients(self, broadcast_id: int) -> list[int]:
        rows = await self.pool.fetch(
            "SELECT user_id FROM broadcast_deliveries WHERE broadcast_id = $1 "
            "AND state = 'queued' ORDER BY user_id",
            broadcast_id,
        )
        return [row["user_id"] for row in rows]

    async def set_delivery(
        self, broadcast_id: int, user_id: int, state: Delivery, *, now: datetime
    ) -> None:
        await self.pool.execute(
            "UPDATE broadcast_deliveries SET state = $1, updated_at = $2 "
            "WHERE broadcast_id = $3 AND user_id = $4",
            state.value,
            now,
            broadcast_id,
            user_id,
        )


# One broadcast sends at a time per petition: the oldest, unless another owner's lease runs.
_LEASE_BROADCAST = """
    UPDATE broadcasts SET owner = $2, lease_until = $4
    WHERE id = (SELECT id FROM broadcasts WHERE petition_id = $1 AND state = 'sending'
                ORDER BY id LIMIT 1)
      AND (owner IS NULL OR owner = $2 OR lease_until < $3)
    RETURNING id
"""


# Recipients are claimed in user id order: everyone below the highest claimed id was handled.
_CLAIM_RECIPIENTS = """
    INSERT INTO broadcast_deliveries (broadcast_id, user_id, state, updated_at)
    SELECT $1, s.user_id, 'queued', $3 FROM signatures s
    WHERE s.petition_id = (SELECT petition_id FROM broadcasts WHERE id = $1)
      AND s.wants_updates AND s.blocked_at IS NULL AND s.anonymized_at IS NULL
      AND s.user_id > COALESCE(
          (SELECT MAX(user_id) FROM broadcast_deliveries WHERE broadcast_id = $1), -1)
    ORDER BY s.user_id LIMIT $2
    ON CONFLICT DO NOTHING
    RETURNING user_id
"""
