"""SQLite: each supporter's journey, read with everything a step needs in one query."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from storage.records import (
    Journey,
    PersonalData,
    ReferralOwner,
    Signature,
    SignatureRequest,
    UserRecord,
)
from storage.rows import journey_from_row, journey_to_json
from storage.sqlite.connection import SQLiteConnection, all_rows, first_row
from storage.tallies import TALLY_FUNNEL, TALLY_REFERRER


class SQLiteJourneys(SQLiteConnection):
    """Journeys and what a supporter's step reads (storage.base.JourneyStore)."""

    async def load(self, petition_id: str, user_id: int) -> UserRecord:
        query = """
            SELECT j.step, j.answers, j.message_id, j.language,
                   s.number, s.signed_at, s.country, s.referral_code, s.blocked_at,
                   c.total, c.goal, c.paused
            FROM (SELECT 1)
            LEFT JOIN petition_counts c ON c.petition_id = :p
            LEFT JOIN journeys j ON j.petition_id = :p AND j.user_id = :u
            LEFT JOIN signatures s ON s.petition_id = :p AND s.user_id = :u
        """
        row = await self._reads.run(_fetch_one, query, {"p": petition_id, "u": user_id})
        assert row is not None
        step, answers, message_id, language, number, signed_at, country, code, blocked = row[:9]
        total, goal, paused = row[9:]
        journey = journey_from_row(step, answers) if step is not None else None
        signature = (
            Signature(number, datetime.fromisoformat(signed_at), country, code)
            if number is not None
            else None
        )
        return UserRecord(
            journey,
            message_id,
            language,
            signature,
            total or 0,
            blocked is not None,
            goal,
            None if paused is None else bool(paused),
        )

    async def set_blocked(
        self, petition_id: str, user_id: int, blocked_at: datetime | None
    ) -> None:
        async with self._write_lock:
            await self._db.execute(
                "UPDATE signatures SET blocked_at = :at WHERE petition_id = :p AND user_id = :u",
                {
                    "p": petition_id,
                    "u": user_id,
                    "at": blocked_at.isoformat() if blocked_at else None,
                },
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
        values = {
            "p": petition_id,
            "u": user_id,
            "step": journey.step.value,
            "answers": journey_to_json(journey),
            "message_id": message_id,
            "language": language,
            "now": now.isoformat(),
            "keep_message": 0,
        }
        funnel = [(TALLY_FUNNEL, stage) for stage in reached]
        await self._writes.run(_save_journey, values, petition_id, funnel)

    async def referral_count(self, petition_id: str, referral_code: str) -> int:
        row = await first_row(
            self._read_db,
            "SELECT total FROM tallies WHERE petition_id = ? AND kind = ? AND key = ?",
            (petition_id, TALLY_REFERRER, referral_code),
        )
        return row[0] if row else 0

    async def referral_owner(self, referral_code: str) -> ReferralOwner | None:
        row = await first_row(
            self._read_db,
            "SELECT petition_id, user_id FROM signatures WHERE referral_code = ?",
            (referral_code,),
        )
        return ReferralOwner(row[0], row[1]) if row else None

    async def focus(self, user_id: int) -> str | None:
        row = await first_row(
            self._read_db, "SELECT petition_id FROM supporter_focus WHERE user_id = ?", (user_id,)
        )
        return row[0] if row else None

    async def set_focus(self, user_id: int, petition_id: str, *, now: datetime) -> None:
        async with self._write_lock:
            await self._db.execute(
                "INSERT INTO supporter_focus (user_id, petition_id, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (user_id) DO UPDATE SET "
                "petition_id = excluded.petition_id, updated_at = excluded.updated_at",
                (user_id, petition_id, now.isoformat()),
            )

    async def petitions_of(self, user_id: int) -> list[str]:
        rows = await all_rows(self._read_db, _PETITIONS_OF, (user_id, user_id))
        return [row[0] for row in rows]

    async def personal_data(self, petition_id: str, user_id: int) -> PersonalData:
        key = {"p": petition_id, "u": user_id}
        signed = await first_row(
            self._read_db,
            "SELECT name, country, language, wants_updates, guardian_consent, text_version, "
            "referred_by, signed_at, number, referral_code FROM signatures "
            "WHERE petition_id = :p AND user_id = :u",
            key,
        )
        journey = await first_row(
            self._read_db,
            "SELECT step, answers, language, updated_at FROM journeys "
            "WHERE petition_id = :p AND user_id = :u",
            key,
        )
        signature = None
        if signed is not None:
            name, country, language, updates, guardian, version, referred_by, signed_at = signed[:8]
            signature = SignatureRequest(
                petition_id,
                user_id,
                name,
                country,
                language,
                bool(updates),
                bool(guardian),
                version,
                referred_by,
                datetime.fromisoformat(signed_at),
            )
        return PersonalData(
            signature=signature,
            number=signed[8] if signed else None,
            referral_code=signed[9] if signed else None,
            journey=journey_from_row(journey[0], journey[1]) if journey else None,
            language=journey[2] if journey else None,
            journey_updated_at=datetime.fromisoformat(journey[3]) if journey else None,
        )


def _fetch_one(connection: sqlite3.Connection, sql: str, parameters: object) -> tuple | None:
    return connection.execute(sql, parameters).fetchone()  # type: ignore[arg-type]


def _save_journey(
    connection: sqlite3.Connection,
    values: dict[str, object],
    petition_id: str,
    funnel: list[tuple[str, str]],
) -> None:
    connection.execute(UPSERT_JOURNEY, values)
    if funnel:
        add_tallies(connection, petition_id, funnel, 1)


def add_tallies(
    connection: sqlite3.Connection,
    petition_id: str,
    tallies: list[tuple[str, str]],
    delta: int,
) -> None:
    connection.executemany(
        "INSERT INTO tallies (petition_id, kind, key, total) VALUES (?, ?, ?, MAX(?, 0)) "
        "ON CONFLICT (petition_id, kind, key) DO UPDATE SET total = MAX(total + ?, 0)",
        [(petition_id, kind, key, delta, delta) for kind, key in tallies],
    )


# `keep_message` lets the signing transaction update the journey without knowing the message id.
UPSERT_JOURNEY = """
    INSERT INTO journeys (petition_id, user_id, step, answers, message_id, language, updated_at)
    VALUES (:p, :u, :step, :answers, :message_id, :language, :now)
    ON CONFLICT (petition_id, user_id) DO UPDATE SET
        step = excluded.step, answers = excluded.answers,
        message_id = CASE WHEN :keep_message THEN journeys.message_id ELSE excluded.message_id END,
        language = COALESCE(excluded.language, journeys.language),
        updated_at = excluded.updated_at
"""

_PETITIONS_OF = """
    SELECT petition_id FROM journeys WHERE user_id = ?
    UNION SELECT petition_id FROM signatures WHERE user_id = ?
    ORDER BY petition_id
"""
