"""SQLite: broadcasts and their deliveries, exactly once per recipient."""

from __future__ import annotations

from datetime import datetime

from storage.records import Broadcast, BroadcastState, Delivery
from storage.rows import BROADCAST_COLUMNS
from storage.sqlite.connection import SQLiteConnection, all_rows, first_row


class SQLiteBroadcasts(SQLiteConnection):
    """Broadcasts, their lease, recipients and deliveries (storage.base.BroadcastStore)."""

    async def create_broadcast(
        self, petition_id: str, created_by: int, text: str, *, now: datetime
    ) -> int:
        async with self._write_lock:
            (broadcast_id,) = await first_row(
                self._db,
                "INSERT INTO broadcasts (petition_id, text, created_by, created_at, state) "
                "VALUES (?, ?, ?, ?, ?) RETURNING id",
                (petition_id, text, created_by, now.isoformat(), BroadcastState.DRAFT.value),
            )  # type: ignore[misc]
            return broadcast_id

    async def get_broadcast(self, broadcast_id: int) -> Broadcast | None:
        return await self._broadcast_where("id = ?", (broadcast_id,))

    async def latest_broadcast(self, petition_id: str) -> Broadcast | None:
        return await self._broadcast_where(
            "petition_id = ? AND state <> 'draft' AND state <> 'cancelled' ORDER BY id DESC",
            (petition_id,),
        )

    async def _broadcast_where(self, where: str, parameters: tuple) -> Broadcast | None:
        row = await first_row(
            self._read_db,
            f"SELECT {BROADCAST_COLUMNS} FROM broadcasts WHERE {where} LIMIT 1",
            parameters,
        )
        if row is None:
            return None
        progress = {
            Delivery(state): count
            for state, count in await all_rows(
                self._read_db,
                "SELECT state, COUNT(*) FROM broadcast_deliveries WHERE broadcast_id = ? "
                "GROUP BY state",
                (row[0],),
            )
        }
        return _broadcast(row, progress)

    async def set_broadcast_state(
        self, broadcast_id: int, state: BroadcastState, *, expected: BroadcastState
    ) -> bool:
        async with self._write_lock:
            cursor = await self._db.execute(
                "UPDATE broadcasts SET state = ? WHERE id = ? AND state = ?",
                (state.value, broadcast_id, expected.value),
            )
            changed = cursor.rowcount == 1
            await cursor.close()
            return changed

    async def lease_broadcast(
        self, petition_id: str, *, owner: str, now: datetime, lease_until: datetime
    ) -> Broadcast | None:
        async with (
            self._write_lock,
            self._db.execute(
                _LEASE_BROADCAST,
                {
                    "p": petition_id,
                    "owner": owner,
                    "now": now.isoformat(),
                    "until": lease_until.isoformat(),
                },
            ) as cursor,
        ):
            row = await cursor.fetchone()
        return None if row is None else await self.get_broadcast(row[0])

    async def claim_recipients(self, broadcast_id: int, limit: int, *, now: datetime) -> list[int]:
        async with (
            self._transaction() as db,
            db.execute(
                _CLAIM_RECIPIENTS, {"b": broadcast_id, "n": limit, "now": now.isoformat()}
            ) as cursor,
        ):
            return sorted([user_id async for (user_id,) in cursor])

    async def left_over_recipients(self, broadcast_id: int) -> list[int]:
        return [
            user_id
            for (user_id,) in await all_rows(
                self._read_db,
                "SELECT user_id FROM broadcast_deliveries WHERE broadcast_id = ? "
                "AND state = 'queued' ORDER BY user_id",
                (broadcast_id,),
            )
        ]

    async def set_delivery(
        self, broadcast_id: int, user_id: int, state: Delivery, *, now: datetime
    ) -> None:
        async with self._write_lock:
            await self._db.execute(
                "UPDATE broadcast_deliveries SET state = ?, updated_at = ? "
                "WHERE broadcast_id = ? AND user_id = ?",
                (state.value, now.isoformat(), broadcast_id, user_id),
            )


def _broadcast(row: tuple, progress: dict[Delivery, int]) -> Broadcast:
    broadcast_id, petition_id, text, created_by, created_at, state, owner, lease_until = row
    return Broadcast(
        id=broadcast_id,
        petition_id=petition_id,
        text=text,
        created_by=created_by,
        created_at=datetime.fromisoformat(created_at),
        state=BroadcastState(state),
        progress=progress,
        owner=owner,
        lease_until=datetime.fromisoformat(lease_until) if lease_until else None,
    )


# One broadcast sends at a time per petition: the oldest, unless another owner's lease runs.
_LEASE_BROADCAST = """
    UPDATE broadcasts SET owner = :owner, lease_until = :until
    WHERE id = (SELECT id FROM broadcasts WHERE petition_id = :p AND state = 'sending'
                ORDER BY id LIMIT 1)
      AND (owner IS NULL OR owner = :owner OR lease_until < :now)
    RETURNING id
"""


# Recipients are claimed in user id order: everyone below the highest claimed id was handled.
_CLAIM_RECIPIENTS = """
    INSERT INTO broadcast_deliveries (broadcast_id, user_id, state, updated_at)
    SELECT :b, s.user_id, 'queued', :now FROM signatures s
    WHERE s.petition_id = (SELECT petition_id FROM broadcasts WHERE id = :b)
      AND s.wants_updates AND s.blocked_at IS NULL AND s.anonymized_at IS NULL
      AND s.user_id > COALESCE(
          (SELECT MAX(user_id) FROM broadcast_deliveries WHERE broadcast_id = :b), -1)
    ORDER BY s.user_id LIMIT :n
    ON CONFLICT DO NOTHING
    RETURNING user_id
"""
