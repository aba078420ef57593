"""Embedded storage on SQLite (aiosqlite, WAL): one connection writes, another reads.

SQLite allows one writer at a time; funnelling every write through one connection keeps
transactions from interleaving inside this process, and `BEGIN IMMEDIATE` with a busy timeout
serializes writers from other processes sharing the file. The journey's hot path (load, save,
sign, withdraw) runs as whole functions in batches (storage.sqlite_batches: one trip to the
database thread for many steps); the rest takes an asyncio lock for its transaction of several
trips, and the batches wait for it.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

import aiosqlite

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
from storage.sqlite_batches import Batches

BUSY_TIMEOUT_MS = 10_000
MAX_REFERRAL_CODE_ATTEMPTS = 5


@asynccontextmanager
async def _start_up_lock(path: str) -> AsyncIterator[None]:
    """Instances opening one database file take turns to switch it to WAL and migrate it.

    Changing the journal mode needs exclusive access that SQLite's busy timeout does not wait
    for, so a lock file next to the database serializes start-up across processes.
    """
    if path == ":memory:":
        yield
        return
    lock_file = await asyncio.to_thread(open, f"{path}.lock", "a")
    try:
        await asyncio.to_thread(fcntl.flock, lock_file, fcntl.LOCK_EX)
        yield
    finally:
        lock_file.close()  # closing releases the lock


class SQLiteStorage:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        self._writes = Batches(lambda: self._db, write=True, gate=self._write_lock)
        self._reads = Batches(lambda: self._read_db, write=False)

    async def open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._writer = await self._connect()
        async with _start_up_lock(self.path):
            await self._writer.execute("PRAGMA journal_mode=WAL")
            await self._migrate()
        # An in-memory database is private to its connection: read through the writer then.
        self._reader = self._writer if self.path == ":memory:" else await self._connect()

    async def _connect(self) -> aiosqlite.Connection:
        connection = await aiosqlite.connect(self.path, isolation_level=None)
        await connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        # WAL + NORMAL survives a crash of the process (only a power loss can drop the last
        # commits), at a fraction of FULL's fsync cost.
        await connection.execute("PRAGMA synchronous=NORMAL")
        await connection.execute("PRAGMA foreign_keys=ON")
        return connection

    async def close(self) -> None:
        await self._writes.wait_idle()
        await self._reads.wait_idle()
        for connection in {id(c): c for c in (self._reader, self._writer) if c}.values():
            await connection.close()
        self._reader = self._writer = None

    @property
    def _db(self) -> aiosqlite.Connection:
        if self._writer is None:
            raise RuntimeError("storage is not open")
        return self._writer

    @property
    def _read_db(self) -> aiosqlite.Connection:
        if self._reader is None:
            raise RuntimeError("storage is not open")
        return self._reader

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._write_lock:
            db = self._db
            await db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                await db.execute("ROLLBACK")
                raise
            await db.execute("COMMIT")

    async def _migrate(self) -> None:
        async with self._transaction() as db:
            await db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = await _first(db, "SELECT COALESCE(MAX(version), 0) FROM schema_version")
            current = row[0] if row else 0
            for version, script in migration_scripts("sqlite"):
                if version > current:
                    for statement in split_sql(script):
                        await db.execute(statement)
                    await db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))

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

    async def sign(
        self, request: SignatureRequest, journey: Journey, reached: Sequence[str] = ()
    ) -> SignResult:
        for _attempt in range(MAX_REFERRAL_CODE_ATTEMPTS):
            try:
                return await self._sign_once(request, journey, new_referral_code(), reached)
            except sqlite3.IntegrityError as error:
                if "referral_code" not in str(error):
                    raise
        raise RuntimeError("could not draw a unique referral code")

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

    async def referral_count(self, petition_id: str, referral_code: str) -> int:
        row = await _first(
            self._read_db,
            "SELECT total FROM tallies WHERE petition_id = ? AND kind = ? AND key = ?",
            (petition_id, TALLY_REFERRER, referral_code),
        )
        return row[0] if row else 0

    async def personal_data(self, petition_id: str, user_id: int) -> PersonalData:
        key = {"p": petition_id, "u": user_id}
        signed = await _first(
            self._read_db,
            "SELECT name, country, language, wants_updates, guardian_consent, text_version, "
            "referred_by, signed_at, number, referral_code FROM signatures "
            "WHERE petition_id = :p AND user_id = :u",
            key,
        )
        journey = await _first(
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
                    await db.execute("DELETE FROM journeys WHERE petition_id = ?", (petition_id,))
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
        # Joins the concurrent journey steps' trip to the database thread (webhook mode
        # claims every update).
        values = {
            "b": bot_id,
            "u": update_id,
            "owner": owner,
            "lease": lease_until.isoformat(),
            "now": now.isoformat(),
        }
        return await self._writes.run(_claim_update, values)

    async def receive_updates(
        self, bot_id: int, updates: list[tuple[int, str]], *, now: datetime
    ) -> list[int]:
        if not updates:
            return []
        # One statement for the batch (getUpdates returns at most 100): 5 variables a row stay
        # far below SQLite's limit of 32,766.
        rows = ", ".join(["(?, ?, '', 'received', ?, ?, ?)"] * len(updates))
        stamp = now.isoformat()
        values = [
            value
            for update_id, payload in updates
            for value in (bot_id, update_id, stamp, stamp, payload)
        ]
        async with self._write_lock:
            fresh = await _all(
                self._db,
                "INSERT INTO update_claims "
                "(bot_id, update_id, owner, state, lease_until, updated_at, payload) "
                f"VALUES {rows} ON CONFLICT DO NOTHING RETURNING update_id",
                values,
            )
        return sorted(update_id for (update_id,) in fresh)

    async def unfinished_updates(self, bot_id: int, received_after: datetime) -> list[str]:
        return [
            payload
            for (payload,) in await _all(
                self._read_db,
                "SELECT payload FROM update_claims WHERE bot_id = ? AND state <> 'done' "
                "AND payload IS NOT NULL AND updated_at > ? ORDER BY update_id",
                (bot_id, received_after.isoformat()),
            )
        ]

    async def finish_updates(
        self, bot_id: int, update_ids: Sequence[int], *, now: datetime
    ) -> None:
        values = {"b": bot_id, "ids": json.dumps(list(update_ids)), "now": now.isoformat()}
        await self._writes.run(_finish_updates, values)

    async def forget_updates(self, before: datetime) -> int:
        async with self._write_lock:
            cursor = await self._db.execute(
                "DELETE FROM update_claims WHERE updated_at < ?", (before.isoformat(),)
            )
            deleted = cursor.rowcount
            await cursor.close()
            return deleted

    async def set_live_goal(self, petition_id: str, goal: int | None) -> None:
        await self._set_live(petition_id, "goal", goal)

    async def set_live_paused(self, petition_id: str, paused: bool | None) -> None:
        await self._set_live(petition_id, "paused", paused)

    async def _set_live(self, petition_id: str, column: str, value: object) -> None:
        assert column in ("goal", "paused")
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO petition_counts (petition_id) VALUES (?) ON CONFLICT DO NOTHING",
                (petition_id,),
            )
            await db.execute(
                f"UPDATE petition_counts SET {column} = ? WHERE petition_id = ?",
                (value, petition_id),
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
        async with self._write_lock:
            await self._db.execute(
                "INSERT INTO audit_log (petition_id, user_id, action, detail, allowed, at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (petition_id, user_id, action, detail, allowed, now.isoformat()),
            )

    async def audit_entries(self, petition_id: str, limit: int = 100) -> list[AuditEntry]:
        async with self._read_db.execute(
            "SELECT user_id, action, detail, allowed, at FROM audit_log WHERE petition_id = ? "
            "ORDER BY id DESC LIMIT ?",
            (petition_id, limit),
        ) as cursor:
            return [
                AuditEntry(user_id, action, detail, bool(allowed), datetime.fromisoformat(at))
                async for user_id, action, detail, allowed, at in cursor
            ]

    async def total(self, petition_id: str) -> int:
        return await self._reads.run(_current_total, petition_id)

    async def country_counts(self, petition_id: str) -> dict[str, int]:
        return {
            country: total
            for country, total in await _all(
                self._read_db,
                "SELECT country, total FROM country_counts WHERE petition_id = ? AND total > 0 "
                "ORDER BY total DESC, country",
                (petition_id,),
            )
        }

    async def recount(self, petition_id: str) -> int:
        return await self._writes.run(_recount, petition_id)

    # ---- the admin console ------------------------------------------------------------

    async def overview(self, petition_id: str) -> Overview:
        counts = await _first(
            self._read_db,
            "SELECT total, goal, paused FROM petition_counts WHERE petition_id = ?",
            (petition_id,),
        )
        rows = [
            tuple(row)
            for row in await _all(
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
            for day, total in await _all(
                self._read_db,
                "SELECT key, total FROM tallies WHERE petition_id = ? AND kind = ? AND key >= ? "
                "AND total > 0 ORDER BY key",
                (petition_id, TALLY_DAY, since.isoformat() if since else ""),
            )
        }

    async def top_referrers(self, petition_id: str, limit: int = 5) -> list[int]:
        return [
            total
            for (total,) in await _all(
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
            row = await _first(
                self._read_db,
                "SELECT signed_at FROM signatures WHERE petition_id = ? AND country = ? "
                f"ORDER BY number {order} LIMIT 1",
                (petition_id, country),
            )
            if row is None:
                return None
            ends.append(datetime.fromisoformat(row[0]))
        return ends[0], ends[1]

    async def create_broadcast(
        self, petition_id: str, created_by: int, text: str, *, now: datetime
    ) -> int:
        async with self._write_lock:
            (broadcast_id,) = await _first(
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
        row = await _first(
            self._read_db,
            f"SELECT {BROADCAST_COLUMNS} FROM broadcasts WHERE {where} LIMIT 1",
            parameters,
        )
        if row is None:
            return None
        progress = {
            Delivery(state): count
            for state, count in await _all(
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
            for (user_id,) in await _all(
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


# ---- run in aiosqlite's thread, batched (storage.sqlite_batches) ----------------------------


def _fetch_one(connection: sqlite3.Connection, sql: str, parameters: object) -> tuple | None:
    return connection.execute(sql, parameters).fetchone()  # type: ignore[arg-type]


def _add_tallies(
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


def _save_journey(
    connection: sqlite3.Connection,
    values: dict[str, object],
    petition_id: str,
    funnel: list[tuple[str, str]],
) -> None:
    connection.execute(_UPSERT_JOURNEY, values)
    if funnel:
        _add_tallies(connection, petition_id, funnel, 1)


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
    _add_tallies(connection, request.petition_id, request_tallies(request, reached), 1)
    connection.execute(
        _UPSERT_JOURNEY,
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
    _add_tallies(connection, petition_id, tallies, -1)
    return _current_total(connection, petition_id)


_TALLY_SOURCES = tally_sources("substr(signed_at, 1, 10)", "1")


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


_CLAIM_UPDATE = """
    INSERT INTO update_claims (bot_id, update_id, owner, state, lease_until, updated_at)
    VALUES (:b, :u, :owner, 'processing', :lease, :now)
    ON CONFLICT (bot_id, update_id) DO UPDATE SET
        state = 'processing', owner = excluded.owner, lease_until = excluded.lease_until,
        updated_at = excluded.updated_at
    WHERE update_claims.state = 'received'
        OR (update_claims.state = 'processing' AND update_claims.owner <> excluded.owner
            AND update_claims.lease_until < :now)
    RETURNING state
"""


def _claim_update(connection: sqlite3.Connection, values: dict[str, Any]) -> Claim:
    if connection.execute(_CLAIM_UPDATE, values).fetchone() is not None:
        return Claim.OWNED
    row = connection.execute(
        "SELECT state FROM update_claims WHERE bot_id = :b AND update_id = :u", values
    ).fetchone()
    return Claim.DONE if row is not None and row[0] == "done" else Claim.BUSY


def _finish_updates(connection: sqlite3.Connection, values: dict[str, Any]) -> None:
    connection.execute(
        "UPDATE update_claims SET state = 'done', updated_at = :now, payload = NULL "
        "WHERE bot_id = :b AND update_id IN (SELECT value FROM json_each(:ids))",
        values,
    )


# `keep_message` lets the signing transaction update the journey without knowing the message id.
_UPSERT_JOURNEY = """
    INSERT INTO journeys (petition_id, user_id, step, answers, message_id, language, updated_at)
    VALUES (:p, :u, :step, :answers, :message_id, :language, :now)
    ON CONFLICT (petition_id, user_id) DO UPDATE SET
        step = excluded.step, answers = excluded.answers,
        message_id = CASE WHEN :keep_message THEN journeys.message_id ELSE excluded.message_id END,
        language = COALESCE(excluded.language, journeys.language),
        updated_at = excluded.updated_at
"""


async def _first(db: aiosqlite.Connection, sql: str, parameters: object = ()) -> sqlite3.Row | None:
    """The first row, in one trip to aiosqlite's thread (a cursor takes three)."""
    rows = await db.execute_fetchall(sql, parameters)  # type: ignore[arg-type]
    return next(iter(rows), None)


async def _all(db: aiosqlite.Connection, sql: str, parameters: object = ()) -> list[sqlite3.Row]:
    """Every row, in one trip to aiosqlite's thread."""
    return list(await db.execute_fetchall(sql, parameters))  # type: ignore[arg-type]
