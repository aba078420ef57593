"""What the bot stores, as one protocol every backend implements (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from enum import StrEnum
from importlib import resources
from typing import Protocol

from bot.flow import Journey, Signature, Step

log = logging.getLogger(__name__)

REFERRAL_CODE_BYTES = 9  # 12 URL-safe characters: collisions are negligible at 10M signers


@dataclass(frozen=True, slots=True)
class AuditEntry:
    user_id: int
    action: str
    detail: str
    allowed: bool
    at: datetime


class Claim(StrEnum):
    OWNED = "owned"  # process it now
    DONE = "done"  # already processed: drop it
    BUSY = "busy"  # another instance is processing it right now: ask to be retried later


@dataclass(frozen=True, slots=True)
class UserRecord:
    """Everything one update needs about one supporter, read in one round trip."""

    journey: Journey | None
    message_id: int | None
    language: str | None
    signature: Signature | None
    total: int
    blocked: bool = False  # a message to them failed with 403 since they last wrote
    goal: int | None = None  # set live by an admin; None: the petition file's
    paused: bool | None = None  # set live by an admin; None: the petition file's


@dataclass(frozen=True, slots=True)
class SignatureRequest:
    petition_id: str
    user_id: int
    name: str
    country: str
    language: str
    wants_updates: bool
    guardian_consent: bool
    text_version: str
    referred_by: str | None
    signed_at: datetime


@dataclass(frozen=True, slots=True)
class PersonalData:
    """Everything stored about one supporter for one petition (for /mydata)."""

    signature: SignatureRequest | None
    number: int | None
    referral_code: str | None
    journey: Journey | None
    language: str | None
    journey_updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class SignResult:
    signature: Signature
    created: bool  # False: this supporter had already signed (double tap, redelivery, a race)
    total: int


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
    ) -> None: ...

    async def sign(self, request: SignatureRequest, journey: Journey) -> SignResult:
        """Record a signature exactly once and update the counters in the same transaction.

        Idempotent per (petition, user): a second call returns the first signature with
        created=False and changes nothing.
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
        take_over: bool = False,
    ) -> Claim:
        """Claim an update for processing, so it is processed once across instances.

        OWNED when it is new (or only received), or another owner's lease ran out (or
        `take_over`: a single polling consumer inherits its crashed predecessor's work). A
        second copy while this owner still works on it is BUSY.
        """

    async def receive_updates(
        self, bot_id: int, updates: list[tuple[int, str]], *, now: datetime
    ) -> None:
        """Keep fetched updates (id, JSON) before Telegram is told they arrived (polling)."""

    async def unfinished_updates(self, bot_id: int, received_after: datetime) -> list[str]:
        """JSON of updates received since then and not done, oldest first (for a replay)."""

    async def finish_update(self, bot_id: int, update_id: int, *, now: datetime) -> None: ...

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


def new_referral_code() -> str:
    return secrets.token_urlsafe(REFERRAL_CODE_BYTES)


_JOURNEY_FIELDS = {field.name for field in fields(Journey)}


def journey_to_json(journey: Journey) -> str:
    answers = asdict(journey)
    answers.pop("step")
    return json.dumps(answers, separators=(",", ":"), ensure_ascii=False)


def journey_from_row(step: str, answers: str) -> Journey:
    """Decode a stored journey; anything unreadable (old format, manual edits) starts afresh."""
    try:
        data = {key: value for key, value in json.loads(answers).items() if key in _JOURNEY_FIELDS}
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
