"""PostgreSQL: signatures, with every counter moved in the signing transaction.

Every count is exact across instances: the signature insert and the counter updates commit in
one transaction, and the petition's counter row lock hands out signer numbers one at a time,
so numbers are unique and gapless.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from storage.postgres.connection import PostgresConnection
from storage.records import Journey, Signature, SignatureRequest, SignResult
from storage.rows import journey_to_json, sign_with_fresh_code
from storage.tallies import SIGNATURE_TALLIES, request_tallies, signature_tallies, tally_sources


class PostgresSignatures(PostgresConnection):
    """Signing, withdrawing, counting (storage.base.SignatureStore)."""

    async def sign(
        self, request: SignatureRequest, journey: Journey, reached: Sequence[str] = ()
    ) -> SignResult:
        existing = await self._existing(request)
        if existing is not None:
            return existing
        return await sign_with_fresh_code(
            lambda code: self._sign_once(request, journey, code, reached), _code_taken
        )

    async def _existing(self, request: SignatureRequest) -> SignResult | None:
        row = await self.pool.fetchrow(
            "SELECT s.number, s.signed_at, s.country, s.referral_code, c.total "
            "FROM signatures s JOIN petition_counts c USING (petition_id) "
            "WHERE s.petition_id = $1 AND s.user_id = $2",
            request.petition_id,
            request.user_id,
        )
        if row is None:
            return None
        signature = Signature(row["number"], row["signed_at"], row["country"], row["referral_code"])
        return SignResult(signature, created=False, total=row["total"])

    async def _sign_once(
        self,
        request: SignatureRequest,
        journey: Journey,
        referral_code: str,
        reached: Sequence[str],
    ) -> SignResult:
        # One statement, so the counter row (which serializes every signer of the petition,
        # keeping numbers gapless) is locked for its execution only, never across a round
        # trip; any conflict rolls all of it back.
        tallies = sorted(request_tallies(request, reached))
        try:
            counts = await self._insert_signature(request, journey, referral_code, tallies)
        except asyncpg.UniqueViolationError as error:
            if error.constraint_name != "signatures_pkey":
                raise  # a share code already taken: drawn again by sign_with_fresh_code
            existing = await self._existing(request)  # the same supporter, on another instance
            assert existing is not None
            return existing
        signature = Signature(
            counts["last_number"], request.signed_at, request.country, referral_code
        )
        return SignResult(signature, created=True, total=counts["total"])

    async def _insert_signature(
        self,
        request: SignatureRequest,
        journey: Journey,
        referral_code: str,
        tallies: list[tuple[str, str]],
    ) -> asyncpg.Record:
        counts = await self.pool.fetchrow(
            _SIGN,
            request.petition_id,
            request.user_id,
            request.name,
            request.country,
            request.language,
            request.wants_updates,
            request.guardian_consent,
            request.text_version,
            referral_code,
            request.referred_by,
            request.signed_at,
            [kind for kind, _ in tallies],
            [key for _, key in tallies],
            journey.step.value,
            journey_to_json(journey),
        )
        assert counts is not None
        return counts

    async def withdraw(self, petition_id: str, user_id: int) -> int | None:
        async with self.pool.acquire() as connection, connection.transaction():
            # The counter row first, as signing does: one lock order, no deadlocks.
            await connection.execute(
                "SELECT 1 FROM petition_counts WHERE petition_id = $1 FOR UPDATE", petition_id
            )
            row = await connection.fetchrow(
                "DELETE FROM signatures WHERE petition_id = $1 AND user_id = $2 "
                "RETURNING country, signed_at, language, wants_updates, referred_by",
                petition_id,
                user_id,
            )
            if row is None:
                return None
            await connection.execute(
                "UPDATE country_counts SET total = GREATEST(total - 1, 0) "
                "WHERE petition_id = $1 AND country = $2",
                petition_id,
                row["country"],
            )
            tallies = signature_tallies(
                row["signed_at"], row["language"], row["wants_updates"], row["referred_by"]
            )
            await _add_tallies(connection, petition_id, tallies, -1)
            return await connection.fetchval(
                "UPDATE petition_counts SET total = GREATEST(total - 1, 0) "
                "WHERE petition_id = $1 RETURNING total",
                petition_id,
            )

    async def anonymize_signed_before(
        self, petition_id: str, cutoff: datetime, *, now: datetime, batch_size: int = 500
    ) -> int:
        done = 0
        while True:
            # A negative user id (from the unique signer number) keeps the primary key unique
            # while no longer pointing at any Telegram account.
            status = await self.pool.execute(
                "UPDATE signatures SET name = '', user_id = -number, anonymized_at = $3 "
                "WHERE ctid IN (SELECT ctid FROM signatures WHERE petition_id = $1 "
                "AND anonymized_at IS NULL AND signed_at < $2 LIMIT $4)",
                petition_id,
                cutoff,
                now,
                batch_size,
            )
            changed = int(status.split()[-1])
            if changed == 0:
                for table in ("journeys", "supporter_focus"):
                    await self.pool.execute(
                        f"DELETE FROM {table} WHERE petition_id = $1", petition_id
                    )
                return done
            done += changed

    async def total(self, petition_id: str) -> int:
        value = await self.pool.fetchval(
            "SELECT total FROM petition_counts WHERE petition_id = $1", petition_id
        )
        return value or 0

    async def country_counts(self, petition_id: str) -> dict[str, int]:
        rows = await self.pool.fetch(
            "SELECT country, total FROM country_counts WHERE petition_id = $1 AND total > 0 "
            "ORDER BY total DESC, country",
            petition_id,
        )
        return {row["country"]: row["total"] for row in rows}

    async def recount(self, petition_id: str) -> int:
        async with self.pool.acquire() as connection, connection.transaction():
            await connection.execute(
                "INSERT INTO petition_counts (petition_id) VALUES ($1) ON CONFLICT DO NOTHING",
                petition_id,
            )
            # Lock the counter row first, as signing does, so no signature slips in between.
            await connection.execute(
                "SELECT 1 FROM petition_counts WHERE petition_id = $1 FOR UPDATE", petition_id
            )
            await connection.execute(
                "DELETE FROM country_counts WHERE petition_id = $1", petition_id
            )
            await connection.execute(
                "INSERT INTO country_counts (petition_id, country, total) "
                "SELECT petition_id, country, COUNT(*) FROM signatures WHERE petition_id = $1 "
                "GROUP BY petition_id, country",
                petition_id,
            )
            await connection.execute(
                "DELETE FROM tallies WHERE petition_id = $1 AND kind = ANY($2::text[])",
                petition_id,
                list(SIGNATURE_TALLIES),
            )
            for kind, key_sql, where in _TALLY_SOURCES:
                await connection.execute(
                    f"INSERT INTO tallies (petition_id, kind, key, total) "
                    f"SELECT petition_id, '{kind}', {key_sql}, COUNT(*) FROM signatures "
                    f"WHERE petition_id = $1 AND {where} GROUP BY 1, 2, 3",
                    petition_id,
                )
            return await connection.fetchval(
                "UPDATE petition_counts SET "
                "total = (SELECT COUNT(*) FROM signatures WHERE petition_id = $1), "
                "last_number = GREATEST(last_number, "
                "(SELECT COALESCE(MAX(number), 0) FROM signatures WHERE petition_id = $1)) "
                "WHERE petition_id = $1 RETURNING total",
                petition_id,
            )


def _code_taken(error: Exception) -> bool:
    return isinstance(error, asyncpg.UniqueViolationError) and "referral_code" in (
        error.constraint_name or ""
    )


async def _add_tallies(
    connection: asyncpg.Connection,
    petition_id: str,
    tallies: list[tuple[str, str]],
    delta: int,
) -> None:
    """One statement for all counters; sorted, so concurrent transactions lock in one order."""
    ordered = sorted(tallies)
    await connection.execute(
        "INSERT INTO tallies (petition_id, kind, key, total) "
        "SELECT $1, kind, key, GREATEST($4::bigint, 0) "
        "FROM unnest($2::text[], $3::text[]) AS t (kind, key) "
        "ON CONFLICT (petition_id, kind, key) DO UPDATE "
        "SET total = GREATEST(tallies.total + $4::bigint, 0)",
        petition_id,
        [kind for kind, _ in ordered],
        [key for _, key in ordered],
        delta,
    )


_TALLY_SOURCES = tally_sources("to_char(signed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')", "true")


# A signature in one statement. Each part reads the one before, so the counter row is locked
# first, as withdraw() does; the tallies ($12, $13) come sorted, in one lock order.
_SIGN = """
    WITH counter AS (
        INSERT INTO petition_counts AS c (petition_id, total, last_number) VALUES ($1, 1, 1)
        ON CONFLICT (petition_id) DO UPDATE
        SET total = c.total + 1, last_number = c.last_number + 1
        RETURNING last_number, total
    ), signature AS (
        INSERT INTO signatures (petition_id, user_id, number, name, country, language,
            wants_updates, guardian_consent, text_version, referral_code, referred_by,
            signed_at)
        SELECT $1, $2, last_number, $3, $4, $5, $6, $7, $8, $9, $10, $11 FROM counter
        RETURNING number
    ), country AS (
        INSERT INTO country_counts (petition_id, country, total)
        SELECT $1, $4, 1 FROM signature
        ON CONFLICT (petition_id, country) DO UPDATE SET total = country_counts.total + 1
        RETURNING 1
    ), tally AS (
        INSERT INTO tallies (petition_id, kind, key, total)
        SELECT $1, t.kind, t.key, 1
        FROM country, unnest($12::text[], $13::text[]) WITH ORDINALITY AS t (kind, key, position)
        ORDER BY t.position
        ON CONFLICT (petition_id, kind, key) DO UPDATE SET total = tallies.total + 1
    ), journey AS (
        INSERT INTO journeys (petition_id, user_id, step, answers, message_id, language,
            updated_at)
        SELECT $1, $2, $14, $15, NULL, $5, $11 FROM country
        ON CONFLICT (petition_id, user_id) DO UPDATE SET
            step = excluded.step, answers = excluded.answers,
            language = COALESCE(excluded.language, journeys.language),
            updated_at = excluded.updated_at
    )
    SELECT last_number, total FROM counter
"""
