"""What the bot stores, as one protocol every backend implements (SQLite and PostgreSQL)."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import fields
from datetime import UTC, date, datetime
from importlib import resources
from typing import Any, Protocol

import orjson

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
    SignatureRequest,
    SignResult,
    Step,
    UserRecord,
)

log = logging.getLogger(__name__)

REFERRAL_CODE_BYTES = 9  # 12 URL-safe characters: collisions are negligible at 10M signers


class Storage(Protocol):
    async def open(self) -> None:
        """Connect and bring the schema up to date (safe when two instances start at once)."""

    async def close(self) -> None: ...

    async def load(self, petition_id: str, user_id: int) -> UserRecord: ...

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
        """Store the journey; count the funnel stages it `reached` for the first time."""

    async def sign(
        self, request: SignatureRequest, journey: Journey, reached: Sequence[str] = ()
    ) -> SignResult:
        """Record a signature exactly once and update the counters in the same transaction.

        Idempotent per (petition, user): a second call returns the first signature with
        created=False and changes nothing (the funnel stages `reached` are counted only with
        a new signature).
        """

    async def withdraw(self, petition_id: str, user_id: int) -> int | None:
        """Remove a signature and lower the counts in one transaction.

        Returns the new total, or None when this supporter had no signature. Counts never go
        below zero, and signer numbers are not reused.
        """

    async def personal_data(self, petition_id: str, user_id: int) -> PersonalData: ...

    async def referral_count(self, petition_id: str, referral_code: str) -> int:
        """How many signed through this supporter's link."""

    async def set_blocked(
        self, petition_id: str, user_id: int, blocked_at: datetime | None
    ) -> None:
        """Remember that a signer blocked the bot (None: they wrote again, so they did not)."""

    async def anonymize_signed_before(
        self, petition_id: str, cutoff: datetime, *, now: datetime, batch_size: int = 500
    ) -> int:
        """Remove names and Telegram ids from signatures made before `cutoff`, in batches.

        Country, date and number stay, so every count holds. Idempotent; returns how many
        signatures were anonymised by this call. Journeys of the petition are deleted too.
        """

    async def claim_update(
        self,
        bot_id: int,
        update_id: int,
        *,
        owner: str,
        now: datetime,
        lease_until: datetime,
    ) -> Claim:
        """Claim an update for processing, so it is processed once across instances (webhook).

        OWNED when it is new (or only received), or another owner's lease ran out. A second
        copy while this owner still works on it is BUSY.
        """

    async def receive_updates(
        self, bot_id: int, updates: list[tuple[int, str]], *, now: datetime
    ) -> list[int]:
        """Keep fetched updates (id, JSON) before Telegram is told they arrived (polling).

        Returns the ids not received before: a re-fetched update is not new.
        """

    async def unfinished_updates(self, bot_id: int, received_after: datetime) -> list[str]:
        """JSON of updates received since then and not done, oldest first (for a replay)."""

    async def finish_updates(
        self, bot_id: int, update_ids: Sequence[int], *, now: datetime
    ) -> None:
        """Mark updates done; their payloads (kept only for a replay) are dropped."""

    async def forget_updates(self, before: datetime) -> int:
        """Delete claims older than `before` (Telegram never redelivers after a day)."""

    async def set_live_goal(self, petition_id: str, goal: int | None) -> None: ...

    async def set_live_paused(self, petition_id: str, paused: bool | None) -> None: ...

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
        """Record an admin action, or a refused attempt at one."""

    async def audit_entries(self, petition_id: str, limit: int = 100) -> list[AuditEntry]: ...

    async def total(self, petition_id: str) -> int: ...

    async def country_counts(self, petition_id: str) -> dict[str, int]: ...

    async def recount(self, petition_id: str) -> int:
        """Recompute the counters from the signatures (repairs drift); returns the total."""

    # ---- the admin console ------------------------------------------------------------

    async def overview(self, petition_id: str) -> Overview: ...

    async def daily_counts(self, petition_id: str, since: date | None = None) -> dict[date, int]:
        """Signatures per UTC day (withdrawn ones removed), oldest first; days without none."""

    async def top_referrers(self, petition_id: str, limit: int = 5) -> list[int]:
        """How many each of the best referrers brought, best first (no names: anonymised)."""

    async def reach_milestone(self, petition_id: str, mark: int, *, now: datetime) -> bool:
        """True for the one caller that first records this mark (admins are told once)."""

    def export_rows(
        self, petition_id: str, *, country: str | None = None, batch_size: int = 2000
    ) -> AsyncIterator[ExportRow]:
        """Every signature (of one country, if given) by signer number, read in batches."""

    async def country_span(
        self, petition_id: str, country: str
    ) -> tuple[datetime, datetime] | None:
        """First and last signature time from a country (None: nobody from there)."""

    async def create_broadcast(
        self, petition_id: str, created_by: int, text: str, *, now: datetime
    ) -> int: ...

    async def get_broadcast(self, broadcast_id: int) -> Broadcast | None: ...

    async def latest_broadcast(self, petition_id: str) -> Broadcast | None: ...

    async def set_broadcast_state(
        self, broadcast_id: int, state: BroadcastState, *, expected: BroadcastState
    ) -> bool:
        """Move a broadcast from `expected` to `state`; False if it was not in `expected`."""

    async def lease_broadcast(
        self, petition_id: str, *, owner: str, now: datetime, lease_until: datetime
    ) -> Broadcast | None:
        """Take (or renew) the sending broadcast, unless another owner's lease still runs."""

    async def claim_recipients(self, broadcast_id: int, limit: int, *, now: datetime) -> list[int]:
        """Queue the next opted-in, unblocked signers who have no delivery yet; their ids.

        A recipient is claimed at most once per broadcast, whatever the crashes or instances.
        """

    async def left_over_recipients(self, broadcast_id: int) -> list[int]:
        """Recipients a crashed sender queued but never handed over (safe to send to)."""

    async def set_delivery(
        self, broadcast_id: int, user_id: int, state: Delivery, *, now: datetime
    ) -> None: ...


# Kinds of rows in the `tallies` table (counters kept in the signing transaction).
TALLY_DAY = "day"  # key: UTC date, ISO
TALLY_LANGUAGE = "language"
TALLY_REFERRER = "referrer"  # key: the referrer's code
TALLY_FLAG = "flag"  # key: one of the flags below
TALLY_FUNNEL = "funnel"  # key: a stage of bot.flow.FUNNEL_STAGES
FLAG_WANTS_UPDATES = "wants_updates"
FLAG_REFERRED = "referred"
# Rebuilt from the signatures by recount(); the funnel is history and cannot be.
SIGNATURE_TALLIES = (TALLY_DAY, TALLY_LANGUAGE, TALLY_REFERRER, TALLY_FLAG)


def signature_tallies(
    signed_at: datetime, language: str, wants_updates: bool, referred_by: str | None
) -> list[tuple[str, str]]:
    """The (kind, key) counters one signature adds to, and its withdrawal takes from."""
    tallies = [
        (TALLY_DAY, signed_at.astimezone(UTC).date().isoformat()),
        (TALLY_LANGUAGE, language),
    ]
    if wants_updates:
        tallies.append((TALLY_FLAG, FLAG_WANTS_UPDATES))
    if referred_by:
        tallies += [(TALLY_FLAG, FLAG_REFERRED), (TALLY_REFERRER, referred_by)]
    return tallies


def request_tallies(request: SignatureRequest, reached: Sequence[str]) -> list[tuple[str, str]]:
    return signature_tallies(
        request.signed_at, request.language, request.wants_updates, request.referred_by
    ) + [(TALLY_FUNNEL, stage) for stage in reached]


def overview_from_tallies(
    rows: Sequence[tuple[str, str, int]],
    *,
    total: int,
    goal: int | None,
    paused: bool | None,
    countries: dict[str, int],
) -> Overview:
    """Assemble the overview from (kind, key, total) rows of the small tally kinds."""
    by_kind: dict[str, dict[str, int]] = {}
    for kind, key, count in sorted(rows, key=lambda row: (-row[2], row[1])):
        by_kind.setdefault(kind, {})[key] = count
    flags = by_kind.get(TALLY_FLAG, {})
    return Overview(
        total=total,
        goal=goal,
        paused=paused,
        opted_in=flags.get(FLAG_WANTS_UPDATES, 0),
        referred=flags.get(FLAG_REFERRED, 0),
        countries=countries,
        languages=by_kind.get(TALLY_LANGUAGE, {}),
        funnel=by_kind.get(TALLY_FUNNEL, {}),
    )


# The columns export_rows() reads, in the order `export_row` expects.
EXPORT_COLUMNS = (
    "number, signed_at, name, user_id, country, language, wants_updates, guardian_consent, "
    "text_version, referred_by, anonymized_at"
)
BROADCAST_COLUMNS = "id, petition_id, text, created_by, created_at, state, owner, lease_until"


def export_row(row: Sequence[Any], signed_at: datetime) -> ExportRow:
    """An EXPORT_COLUMNS row (`signed_at` decoded by the backend); anonymised rows name no one."""
    number, _, name, user_id, country, language, updates, guardian, version = row[:9]
    referred_by, anonymized_at = row[9], row[10]
    anonymized = anonymized_at is not None
    return ExportRow(
        number=number,
        signed_at=signed_at,
        name=None if anonymized else name,
        user_id=None if anonymized else user_id,
        country=country,
        language=language,
        wants_updates=bool(updates),
        guardian_consent=bool(guardian),
        text_version=version,
        referred_by=referred_by,
    )


def tally_sources(day_key: str, true: str) -> tuple[tuple[str, str, str], ...]:
    """(kind, key expression, filter) of the tallies recount() rebuilds from the signatures.

    `day_key` is the dialect's SQL for a signature's UTC day as YYYY-MM-DD.
    """
    return (
        (TALLY_DAY, day_key, true),
        (TALLY_LANGUAGE, "language", true),
        (TALLY_REFERRER, "referred_by", "referred_by IS NOT NULL"),
        (TALLY_FLAG, f"'{FLAG_WANTS_UPDATES}'", "wants_updates"),
        (TALLY_FLAG, f"'{FLAG_REFERRED}'", "referred_by IS NOT NULL"),
    )


def new_referral_code() -> str:
    return secrets.token_urlsafe(REFERRAL_CODE_BYTES)


_JOURNEY_FIELDS = {field.name for field in fields(Journey)}
_ANSWER_FIELDS = tuple(field.name for field in fields(Journey) if field.name != "step")


def journey_to_json(journey: Journey) -> str:
    # Field by field: dataclasses.asdict deep-copies every value, at several times the cost
    # (this runs on every step of every journey).
    return orjson.dumps({name: getattr(journey, name) for name in _ANSWER_FIELDS}).decode()


def journey_from_row(step: str, answers: str) -> Journey:
    """Decode a stored journey; anything unreadable (old format, manual edits) starts afresh."""
    try:
        stored = orjson.loads(answers)
        data = {key: value for key, value in stored.items() if key in _JOURNEY_FIELDS}
        data["country_matches"] = tuple(data.get("country_matches") or ())
        if data.get("resume_step") is not None:
            data["resume_step"] = Step(data["resume_step"])
        return Journey(step=Step(step), **data)
    except (ValueError, TypeError, AttributeError):
        log.warning("unreadable journey row (step %r); starting the journey afresh", step)
        return Journey()


def migration_scripts(dialect: str) -> list[tuple[int, str]]:
    """(version, SQL) of every migration for a backend, oldest first."""
    folder = resources.files("storage") / "migrations" / dialect
    return sorted(
        (int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".sql")
    )


def split_sql(script: str) -> list[str]:
    """Statements of a migration script (our scripts keep `;` out of strings and comments)."""
    lines = [line for line in script.splitlines() if not line.strip().startswith("--")]
    return [statement.strip() for statement in "\n".join(lines).split(";") if statement.strip()]
