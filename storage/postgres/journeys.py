"""PostgreSQL: each supporter's journey, read with everything a step needs in one query."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from storage.postgres.connection import PostgresConnection
from storage.records import (
    Journey,
    PersonalData,
    ReferralOwner,
    Signature,
    SignatureRequest,
    UserRecord,
)
from storage.rows import journey_from_row, journey_to_json
from storage.tallies import TALLY_FUNNEL, TALLY_REFERRER


class PostgresJourneys(PostgresConnection):
    """Journeys and what a supporter's step reads (storage.base.JourneyStore)."""

    async def load(self, petition_id: str, user_id: int) -> UserRecord:
        row = await self.pool.fetchrow(
            """
            SELECT j.step, j.answers, j.message_id, j.language,
                   s.number, s.signed_at, s.country, s.referral_code, s.blocked_at,
                   c.total, c.goal, c.paused
            FROM (SELECT 1) AS one
            LEFT JOIN petition_counts c ON c.petition_id = $1
            LEFT JOIN journeys j ON j.petition_id = $1 AND j.user_id = $2
            LEFT JOIN signatures s ON s.petition_id = $1 AND s.user_id = $2
            """,
            petition_id,
            user_id,
        )
        assert row is not None
        journey = journey_from_row(row["step"], row["answers"]) if row["step"] else None
        signature = (
            Signature(row["number"], row["signed_at"], row["country"], row["referral_code"])
            if row["number"] is not None
            else None
        )
        return UserRecord(
            journey,
            row["message_id"],
            row["language"],
            signature,
            row["total"] or 0,
            row["blocked_at"] is not None,
            row["goal"],
            row["paused"],
        )

    async def set_blocked(
        self, petition_id: str, user_id: int, blocked_at: datetime | None
    ) -> None:
        await self.pool.execute(
            "UPDATE signatures SET blocked_at = $3 WHERE petition_id = $1 AND user_id = $2",
            petition_id,
            user_id,
            blocked_at,
        )

    async def save_journey(
        self,
        petition_id: str,
        user_id: int,
        journey: Journey,
        *,
        message_id: int | None,
        language: str | None,
        now: datetime,
        reached: Sequence[str] = (),
    ) -> None:
        arguments = (
            petition_id,
            user_id,
            journey.step.value,
            journey_to_json(journey),
            message_id,
            language,
            now,
            False,
        )
        if not reached:
            await self.pool.execute(_UPSERT_JOURNEY, *arguments)
            return
        # One statement: the funnel's counters (every supporter passes them) stay locked for
        # its execution only, not across the round trips of a transaction.
        await self.pool.execute(_SAVE_JOURNEY_REACHING, *arguments, sorted(reached))

    async def referral_count(self, petition_id: str, referral_code: str) -> int:
        total = await self.pool.fetchval(
            "SELECT total FROM tallies WHERE petition_id = $1 AND kind = $2 AND key = $3",
            petition_id,
            TALLY_REFERRER,
            referral_code,
        )
        return total or 0

    async def referral_owner(self, referral_code: str) -> ReferralOwner | None:
        row = await self.pool.fetchrow(
            "SELECT petition_id, user_id FROM signatures WHERE referral_code = $1", referral_code
        )
        return ReferralOwner(row["petition_id"], row["user_id"]) if row else None

    async def focus(self, user_id: int) -> str | None:
        return await self.pool.fetchval(
            "SELECT petition_id FROM supporter_focus WHERE user_id = $1", user_id
        )

    async def set_focus(self, user_id: int, petition_id: str, *, now: datetime) -> None:
        await self.pool.execute(
            "INSERT INTO supporter_focus (user_id, petition_id, updated_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (user_id) DO UPDATE SET "
            "petition_id = excluded.petition_id, updated_at = excluded.updated_at",
            user_id,
            petition_id,
            now,
        )

    async def petitions_of(self, user_id: int) -> list[str]:
        rows = await self.pool.fetch(
            "SELECT petition_id FROM journeys WHERE user_id = $1 "
            "UNION SELECT petition_id FROM signatures WHERE user_id = $1 ORDER BY petition_id",
            user_id,
        )
        return [row["petition_id"] for row in rows]

    async def personal_data(self, petition_id: str, user_id: int) -> PersonalData:
        signed = await self.pool.fetchrow(
            "SELECT * FROM signatures WHERE petition_id = $1 AND user_id = $2",
            petition_id,
            user_id,
        )
        journey = await self.pool.fetchrow(
            "SELECT step, answers, language, updated_at FROM journeys "
            "WHERE petition_id = $1 AND user_id = $2",
            petition_id,
            user_id,
        )
        signature = None
        if signed is not None:
            signature = SignatureRequest(
                petition_id,
                user_id,
                signed["name"],
                signed["country"],
                signed["language"],
                signed["wants_updates"],
                signed["guardian_consent"],
                signed["text_version"],
                signed["referred_by"],
                signed["signed_at"],
            )
        return PersonalData(
            signature=signature,
            number=signed["number"] if signed else None,
            referral_code=signed["referral_code"] if signed else None,
            journey=journey_from_row(journey["step"], journey["answers"]) if journey else None,
            language=journey["language"] if journey else None,
            journey_updated_at=journey["updated_at"] if journey else None,
        )


# The last parameter lets the signing transaction update the journey without its message id.
_UPSERT_JOURNEY = """
    INSERT INTO journeys (petition_id, user_id, step, answers, message_id, language, updated_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (petition_id, user_id) DO UPDATE SET
        step = excluded.step, answers = excluded.answers,
        message_id = CASE WHEN $8::boolean THEN journeys.message_id ELSE excluded.message_id END,
        language = COALESCE(excluded.language, journeys.language),
        updated_at = excluded.updated_at
"""


# The journey saved, and the funnel stages it reached ($9, sorted: one lock order) counted.
_SAVE_JOURNEY_REACHING = f"""
    WITH journey AS ({_UPSERT_JOURNEY} RETURNING 1)
    INSERT INTO tallies (petition_id, kind, key, total)
    SELECT $1, '{TALLY_FUNNEL}', stage, 1 FROM journey, unnest($9::text[]) AS stage
    ON CONFLICT (petition_id, kind, key) DO UPDATE SET total = tallies.total + 1
"""
