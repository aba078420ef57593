"""PostgreSQL: the admin console's reads, all from counters or in batches."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime

from storage.postgres.connection import PostgresConnection
from storage.records import ExportRow, Overview
from storage.rows import EXPORT_COLUMNS, export_row
from storage.tallies import (
    TALLY_DAY,
    TALLY_FLAG,
    TALLY_FUNNEL,
    TALLY_LANGUAGE,
    TALLY_REFERRER,
    overview_from_tallies,
)


class PostgresConsole(PostgresConnection):
    """Overview, daily counts, referrers, milestones, exports (storage.base.ConsoleReads)."""

    async def overview(self, petition_id: str) -> Overview:
        counts = await self.pool.fetchrow(
            "SELECT total, goal, paused FROM petition_counts WHERE petition_id = $1", petition_id
        )
        rows = await self.pool.fetch(
            "SELECT kind, key, total FROM tallies WHERE petition_id = $1 "
            "AND kind = ANY($2::text[]) AND total > 0",
            petition_id,
            [TALLY_LANGUAGE, TALLY_FLAG, TALLY_FUNNEL],
        )
        total, goal, paused = counts if counts is not None else (0, None, None)
        return overview_from_tallies(
            [(row["kind"], row["key"], row["total"]) for row in rows],
            total=total,
            goal=goal,
            paused=paused,
            countries=await self.country_counts(petition_id),
        )

    async def daily_counts(self, petition_id: str, since: date | None = None) -> dict[date, int]:
        rows = await self.pool.fetch(
            "SELECT key, total FROM tallies WHERE petition_id = $1 AND kind = $2 AND key >= $3 "
            "AND total > 0 ORDER BY key",
            petition_id,
            TALLY_DAY,
            since.isoformat() if since else "",
        )
        return {date.fromisoformat(row["key"]): row["total"] for row in rows}

    async def top_referrers(self, petition_id: str, limit: int = 5) -> list[int]:
        rows = await self.pool.fetch(
            "SELECT total FROM tallies WHERE petition_id = $1 AND kind = $2 AND total > 0 "
            "ORDER BY total DESC LIMIT $3",
            petition_id,
            TALLY_REFERRER,
            limit,
        )
        return [row["total"] for row in rows]

    async def reach_milestone(self, petition_id: str, mark: int, *, now: datetime) -> bool:
        inserted = await self.pool.fetchval(
            "INSERT INTO milestones (petition_id, mark, reached_at) VALUES ($1, $2, $3) "
            "ON CONFLICT DO NOTHING RETURNING mark",
            petition_id,
            mark,
            now,
        )
        return inserted is not None

    async def export_rows(
        self, petition_id: str, *, country: str | None = None, batch_size: int = 2000
    ) -> AsyncIterator[ExportRow]:
        after = 0
        while True:
            rows = await self.pool.fetch(
                f"SELECT {EXPORT_COLUMNS} FROM signatures WHERE petition_id = $1 "
                "AND number > $2 AND ($3::text IS NULL OR country = $3) "
                "ORDER BY number LIMIT $4",
                petition_id,
                after,
                country,
                batch_size,
            )
            for row in rows:
                yield export_row(row, row["signed_at"])
            if len(rows) < batch_size:
                return
            after = rows[-1]["number"]

    async def country_span(
        self, petition_id: str, country: str
    ) -> tuple[datetime, datetime] | None:
        # Numbers grow with time, so the (petition, country, number) index gives both ends.
        row = await self.pool.fetchrow(
            "SELECT (SELECT signed_at FROM signatures WHERE petition_id = $1 AND country = $2 "
            "ORDER BY number LIMIT 1) AS first, "
            "(SELECT signed_at FROM signatures WHERE petition_id = $1 AND country = $2 "
            "ORDER BY number DESC LIMIT 1) AS last",
            petition_id,
            country,
        )
        if row is None or row["first"] is None:
            return None
        return row["first"], row["last"]
