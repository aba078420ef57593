"""SQLite: signatures, with every counter moved in the signing transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from storage.records import Journey, Signature, SignatureRequest, SignResult
from storage.rows import journey_to_json, sign_with_fresh_code
from storage.sqlite.connection import SQLiteConnection, all_rows
from storage.sqlite.journeys import UPSERT_JOURNEY, add_tallies
from storage.tallies import SIGNATURE_TALLIES, request_tallies, signature_tallies, tally_sources


class SQLiteSignatures(SQLiteConnection):
    """Signing, withdrawing, counting (storage.base.SignatureStore)."""

    async def sign(
        self, request: SignatureRequest, journey: Journey, reached: Sequence[str] = ()
    ) -> SignResult:
        return await sign_with_fresh_code(
            lambda code: self._sign_once(request, journey, code, reached), _code_taken
        )

    async def _sign_once(
        self,
        request: SignatureRequest,
        journey: Journey,
        referral_code: str,
        reached: Sequence[str],
    ) -> SignResult:
        return await self._writes.run(_sign, request, journey, referral_code, reached)

    async def withdraw(self, petition_id: str, user_id: int) -> int | None:
        return await self._writes.run(_withdraw, petition_id, user_id)

    async def anonymize_signed_before(
        self, petition_id: str, cutoff: datetime, *, now: datetime, batch_size: int = 500
    ) -> int:
        done = 0
        while True:
            async with self._transaction() as db:
                # A negative user id (from the unique signer number) keeps the primary key
                # unique while no longer pointing at any Telegram account.
                cursor = await db.execute(
                    "UPDATE signatures SET name = '', user_id = -number, anonymized_at = :now "
                    "WHERE rowid IN (SELECT rowid FROM signatures WHERE petition_id = :p "
                    "AND anonymized_at IS NULL AND signed_at < :cutoff LIMIT :batch)",
                    {
                        "p": petition_id,
                        "cutoff": cutoff.isoformat(),
                        "now": now.isoformat(),
                        "batch": batch_size,
                    },
                )
                changed = cursor.rowcount
                await cursor.close()
                if changed == 0:
                    for table in ("journeys", "supporter_focus"):
                        await db.execute(
                            f"DELETE FROM {table} WHERE petition_id = ?", (petition_id,)
                        )
                    return done
            done += changed

    async def total(self, petition_id: str) -> int:
        return await self._reads.run(_current_total, petition_id)

    async def country_counts(self, petition_id: str) -> dict[str, int]:
        return {
            country: total
            for country, total in await all_rows(
                self._read_db,
                "SELECT country, total FROM country_counts WHERE petition_id = ? AND total > 0 "
                "ORDER BY total DESC, country",
                (petition_id,),
            )
        }

    async def recount(self, petition_id: str) -> int:
        return await self._writes.run(_recount, petition_id)


def _code_taken(error: Exception) -> bool:
    return isinstance(error, sqlite3.IntegrityError) and "referral_code" in str(error)


def _current_total(connection: sqlite3.Connection, petition_id: str) -> int:
    row = connection.execute(
        "SELECT total FROM petition_counts WHERE petition_id = ?", (petition_id,)
    ).fetchone()
    return row[0] if row else 0


def _recount(connection: sqlite3.Connection, petition_id: str) -> int:
    """Counters rebuilt from the signatures themselves (repairs a manual edit)."""
    connection.execute("DELETE FROM country_counts WHERE petition_id = ?", (petition_id,))
    connection.execute(
        "INSERT INTO country_counts (petition_id, country, total) "
        "SELECT petition_id, country, COUNT(*) FROM signatures WHERE petition_id = ? "
        "GROUP BY petition_id, country",
        (petition_id,),
    )
    connection.execute(
        "INSERT INTO petition_counts (petition_id, total, last_number) "
        "SELECT ?1, COUNT(*), COALESCE(MAX(number), 0) FROM signatures "
        "WHERE petition_id = ?1 "
        "ON CONFLICT (petition_id) DO UPDATE SET total = excluded.total, "
        "last_number = MAX(last_number, excluded.last_number)",
        (petition_id,),
    )
    connection.execute(
        f"DELETE FROM tallies WHERE petition_id = ? AND kind IN {SIGNATURE_TALLIES}",
        (petition_id,),
    )
    for kind, key_sql, where in _TALLY_SOURCES:
        connection.execute(
            f"INSERT INTO tallies (petition_id, kind, key, total) "
            f"SELECT petition_id, '{kind}', {key_sql}, COUNT(*) FROM signatures "
            f"WHERE petition_id = ? AND {where} GROUP BY 1, 2, 3",
            (petition_id,),
        )
    return _current_total(connection, petition_id)


def _sign(
    connection: sqlite3.Connection,
    request: SignatureRequest,
    journey: Journey,
    referral_code: str,
    reached: Sequence[str],
) -> SignResult:
    key = {"p": request.petition_id, "u": request.user_id}
    existing = connection.execute(
        "SELECT number, signed_at, country, referral_code FROM signatures "
        "WHERE petition_id = :p AND user_id = :u",
        key,
    ).fetchone()
    if existing is not None:
        number, signed_at, country, code = existing
        signature = Signature(number, datetime.fromisoformat(signed_at), country, code)
        total = _current_total(connection, request.petition_id)
        return SignResult(signature, created=False, total=total)
    number, total = connection.execute(
        "INSERT INTO petition_counts (petition_id, total, last_number) VALUES (:p, 1, 1) "
        "ON CONFLICT (petition_id) DO UPDATE "
        "SET total = total + 1, last_number = last_number + 1 "
        "RETURNING last_number, total",
        key,
    ).fetchone()
    connection.execute(
        """INSERT INTO signatures (petition_id, user_id, number, name, country, language,
               wants_updates, guardian_consent, text_version, referral_code, referred_by,
               signed_at)
           VALUES (:p, :u, :number, :name, :country, :language, :wants_updates,
               :guardian_consent, :text_version, :code, :referred_by, :signed_at)""",
        {
            **key,
            "number": number,
            "name": request.name,
            "country": request.country,
            "language": request.language,
            "wants_updates": request.wants_updates,
            "guardian_consent": request.guardian_consent,
            "text_version": request.text_version,
            "code": referral_code,
            "referred_by": request.referred_by,
            "signed_at": request.signed_at.isoformat(),
        },
    )
    connection.execute(
        "INSERT INTO country_counts (petition_id, country, total) VALUES (:p, :c, 1) "
        "ON CONFLICT (petition_id, country) DO UPDATE SET total = total + 1",
        {"p": request.petition_id, "c": request.country},
    )
    add_tallies(connection, request.petition_id, request_tallies(request, reached), 1)
    connection.execute(
        UPSERT_JOURNEY,
        {
            **key,
            "step": journey.step.value,
            "answers": journey_to_json(journey),
            "message_id": None,
            "language": request.language,
            "now": request.signed_at.isoformat(),
            "keep_message": 1,
        },
    )
    signature = Signature(number, request.signed_at, request.country, referral_code)
    return SignResult(signature, created=True, total=total)


def _withdraw(connection: sqlite3.Connection, petition_id: str, user_id: int) -> int | None:
    key = {"p": petition_id, "u": user_id}
    row = connection.execute(
        "DELETE FROM signatures WHERE petition_id = :p AND user_id = :u "
        "RETURNING country, signed_at, language, wants_updates, referred_by",
        key,
    ).fetchone()
    if row is None:
        return None
    country, signed_at, language, wants_updates, referred_by = row
    connection.execute(
        "UPDATE country_counts SET total = MAX(total - 1, 0) "
        "WHERE petition_id = :p AND country = :c",
        {"p": petition_id, "c": country},
    )
    connection.execute(
        "UPDATE petition_counts SET total = MAX(total - 1, 0) WHERE petition_id = :p", key
    )
    tallies = signature_tallies(
        datetime.fromisoformat(signed_at), language, bool(wants_updates), referred_by
    )
    add_tallies(connection, petition_id, tallies, -1)
    return _current_total(connection, petition_id)


_TALLY_SOURCES = tally_sources("substr(signed_at, 1, 10)", "1")
