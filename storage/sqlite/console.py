"""SQLite: the admin console's reads, all from counters or in batches."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime

from storage.records import ExportRow, Overview
from storage.rows import EXPORT_COLUMNS, export_row
from storage.sqlite.connection import SQLiteConnection, all_rows, first_row
from storage.tallies import (
    TALLY_DAY,
    TALLY_FLAG,
    TALLY_FUNNEL,
    TALLY_LANGUAGE,
    TALLY_REFERRER,
    overview_from_tallies,
)


class SQLiteConsole(SQLiteConnection):
    """Overview, daily counts, referrers, milestones, exports (storage.base.ConsoleReads)."""

    async def overview(self, petition_id: str) -> Overview:
        counts = await first_row(
            self._read_db,
            "SELECT total, goal, paused FROM petition_counts WHERE petition_id = ?",
            (petition_id,),
        )
        rows = [
            tuple(row)
            for row in await all_rows(
                self._read_db,
                "SELECT kind, key, total FROM tallies WHERE petition_id = ? AND kind IN (?, ?, ?) "
                "AND total > 0",
                (petition_id, TALLY_LANGUAGE, TALLY_FLAG, TALLY_FUNNEL),
            )
        ]
        total, goal, paused = counts or (0, None, None)
        return overview_from_tallies(
            rows,  # type: ignore[arg-type]
            total=total,
            goal=goal,
            paused=None if paused is None else bool(paused),
            countries=await self.country_counts(petition_id),
        )

    async def daily_counts(self, petition_id: str, since: date | None = None) -> dict[date, int]:
        return {
            date.fromisoformat(day): total
            for day, total in await all_rows(
                self._read_db,
                "SELECT key, total FROM tallies WHERE petition_id = ? AND kind = ? AND key >= ? "
                "AND total > 0 ORDER BY key",
                (petition_id, TALLY_DAY, since.isoformat() if since else ""),
            )
        }

    async def top_referrers(self, petition_id: str, limit: int = 5) -> list[int]:
        return [
            total
            for (total,) in await all_rows(
                self._read_db,
                "SELECT total FROM tallies WHERE petition_id = ? AND kind = ? AND total > 0 "
                "ORDER BY total DESC LIMIT ?",
                (petition_id, TALLY_REFERRER, limit),
            )
        ]

    async def reach_milestone(self, petition_id: str, mark: int, *, now: datetime) -> bool:
        async with self._write_lock:
            cursor = await self._db.execute(
                "INSERT INTO milestones (petition_id, mark, reached_at) VALUES (?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (petition_id, mark, now.isoformat()),
            )
            inserted = cursor.rowcount == 1
            await cursor.close()
            return inserted

    async def export_rows(
        self, petition_id: str, *, country: str | None = None, batch_size: int = 2000
    ) -> AsyncIterator[ExportRow]:
        after = 0
        where = "petition_id = :p AND number > :after" + (" AND country = :c" if country else "")
        while True:
            async with self._read_db.execute(
                f"SELECT {EXPORT_COLUMNS} FROM signatures WHERE {where} "
                "ORDER BY number LIMIT :batch",
                {"p": petition_id, "after": after, "c": country, "batch": batch_size},
            ) as cursor:
                rows = await cursor.fetchall()
            for row in rows:
                yield export_row(row, datetime.fromisoformat(row[1]))
            if len(rows) < batch_size:
                return
            after = rows[-1][0]

    async def country_span(
        self, petition_id: str, country: str
    ) -> tuple[datetime, datetime] | None:
        ends = []
        for order in ("ASC", "DESC"):  # numbers grow with time: the index gives both ends
            row = await first_row(
                self._read_db,
                "SELECT signed_at FROM signatures WHERE petition_id = ? AND country = ? "
                f"ORDER BY number {order} LIMIT 1",
                (petition_id, country),
            )
            if row is None:
                return None
            ends.append(datetime.fromisoformat(row[0]))
        return ends[0], ends[1]
