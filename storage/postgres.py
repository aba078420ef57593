"""Shared storage on PostgreSQL (asyncpg pool) for several bot instances.

Every count is exact across instances: the signature insert and the counter updates commit in
one transaction, and the petition's counter row lock hands out signer numbers one at a time,
so numbers are unique and gapless. asyncpg prepares and caches each statement per connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from storage.base import (
    BROADCAST_COLUMNS,
    EXPORT_COLUMNS,
    SIGNATURE_TALLIES,
    TALLY_DAY,
    TALLY_FLAG,
    TALLY_FUNNEL,
    TALLY_LANGUAGE,
    TALLY_REFERRER,
    export_row,
    journey_from_row,
    journey_to_json,
    migration_scripts,
    new_referral_code,
    overview_from_tallies,
    request_tallies,
    signature_tallies,
    split_sql,
    tally_sources,
)
from storage.records import (
    AuditEntry,
    Broadcast,
    BroadcastState,
    Claim,
    Delivery,
    ExportRow,
    Journey,
    Overview,
    PersonalData,
    Signature,
    SignatureRequest,
    SignResult,
    UserRecord,
)

MAX_REFERRAL_CODE_ATTEMPTS = 5
APPLICATION_NAME = "petition-bot"  # how our connections show up in pg_stat_activity
# Any constant works: it only has to be the same for every instance of this bot.
MIGRATION_LOCK_KEY = 7_402_117_003
SCHEMA_PARAMETER = "schema"


def split_schema(database_url: str) -> tuple[str, str | None]:
    """`postgresql://…/db?schema=s` → (URL without it, "s"): a schema per campaign or test run."""
    parts = urlsplit(database_url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((value for key, value in query if key == SCHEMA_PARAMETER), None)
    rest = urlencode([(key, value) for key, value in query if key != SCHEMA_PARAMETER])
    return urlunsplit(parts._replace(query=rest)), schema


async def _nothing_to_reset(connection: asyncpg.Connection) -> None:
    """What a connection needs before going back to the pool: nothing beyond asyncpg's own
    rollback of an open transaction. asyncpg's default runs `RESET ALL; UNLISTEN *; ...` on
    every release, a second round trip for each of our one-statement calls (measured: a tenth
    of the bot's CPU under load), for session state this storage never creates: no SET, no
    LISTEN, advisory locks only transaction-scoped."""


class PostgresStorage:
    def __init__(self, database_url: str, *, min_size: int = 2, max_size: int = 20) -> None:
        self.dsn, self.schema = split_schema(database_url)
        self.min_size, self.max_size = min_size, max_size
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        settings = {"application_name": APPLICATION_NAME}
        if self.schema:
            settings["search_path"] = self.schema
        if self.schema:
            connection = await asyncpg.connect(self.dsn)
            try:
                await connection.execute(
                    f"CREATE SCHEMA IF NOT EXISTS {_quote_identifier(self.schema)}"
                )
            except asyncpg.UniqueViolationError:
                pass  # another instance created it at the same moment
            finally:
                await connection.close()
        self._pool = await asyncpg.create_pool(
            self.dsn,
            min_size=self.min_size,
            max_size=self.max_size,
            server_settings=settings,
            reset=_nothing_to_reset,
        )
        await self._migrate()

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("storage is not open")
        return self._pool

    async def _migrate(self) -> None:
        async with self.pool.acquire() as connection, connection.transaction():
            # Two instances starting at once: the second waits here, then finds nothing to do.
            await connection.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK_KEY)
            await connection.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"
            )
            current = await connection.fetchval(
                "SELECT COALESCE(MAX(version), 0) FROM schema_version"
            )
            for version, script in migration_scripts("postgres"):
                if version > current:
                    for statement in split_sql(script):
                        await connection.execute(statement)
                    await connection.execute(
                        "INSERT INTO schema_version (version) VALUES ($1)", version
                    )

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

    async def sign(
        self, request: SignatureRequest, journey: Journey, reached: Sequence[str] = ()
    ) -> SignResult:
        existing = await self._existing(request)
        if existing is not None:
            return existing
        for _attempt in range(MAX_REFERRAL_CODE_ATTEMPTS):
            try:
                return await self._sign_once(request, journey, new_referral_code(), reached)
            except asyncpg.UniqueViolationError as error:
                constraint = error.constraint_name or ""
                if constraint == "signatures_pkey":  # the same supporter, on another instance
                    existing = await self._existing(request)
                    assert existing is not None
                    return existing
                if "referral_code" not in constraint:
                    raise
        raise RuntimeError("could not draw a unique referral code")

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
        signature = Signature(
            counts["last_number"], request.signed_at, request.country, referral_code
        )
        return SignResult(signature, created=True, total=counts["total"])

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

    async def referral_count(self, petition_id: str, referral_code: str) -> int:
        total = await self.pool.fetchval(
            "SELECT total FROM tallies WHERE petition_id = $1 AND kind = $2 AND key = $3",
            petition_id,
            TALLY_REFERRER,
            referral_code,
        )
        return total or 0

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
                await self.pool.execute("DELETE FROM journeys WHERE petition_id = $1", petition_id)
                return done
            done += changed

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

    # ---- the admin console ------------------------------------------------------------

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


def _quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
