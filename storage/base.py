"""What the bot stores, as small protocols by concern; every backend implements them all.

A feature asks for the protocol it needs (the broadcast sender a `BroadcastStore`, the public
count a `SignatureStore`...), and each backend keeps one module per protocol
(storage/sqlite/*.py, storage/postgres/*.py), with one contract test-suite per protocol
(tests/test_storage_*.py) run against both.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime
from typing import Protocol

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
    ReferralOwner,
    SignatureRequest,
    SignResult,
    UserRecord,
)

log = logging.getLogger(__name__)


class StorageUnavailable(Exception):
    """The database cannot be opened (unwritable path, server down, bad credentials): the
    message is one line for the operator, with no password in it."""


class JourneyStore(Protocol):
    """Each supporter's journey, and everything one of their steps reads (one query)."""

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

    async def set_blocked(
        self, petition_id: str, user_id: int, blocked_at: datetime | None
    ) -> None:
        """Remember that a signer blocked the bot (None: they wrote again, so they did not)."""

    async def personal_data(self, petition_id: str, user_id: int) -> PersonalData: ...

    async def referral_count(self, petition_id: str, referral_code: str) -> int:
        """How many signed through this supporter's link."""

    async def referral_owner(self, referral_code: str) -> ReferralOwner | None:
        """The signer a share code was given to, and for which petition (codes are unique
        across petitions); None once they withdrew, or for a code never given."""

    async def focus(self, user_id: int) -> str | None:
        """The petition this supporter opened last (None: they never chose one)."""

    async def set_focus(self, user_id: int, petition_id: str, *, now: datetime) -> None:
        """Their typed answers and commands go to this petition from now on."""

    async def petitions_of(self, user_id: int) -> list[str]:
        """Petitions this supporter has a journey or a signature in, by id."""


class SignatureStore(Protocol):
    """Signatures, and the counters they move in the same transaction."""

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

    async def total(self, petition_id: str) -> int: ...

    async def country_counts(self, petition_id: str) -> dict[str, int]: ...

    async def recount(self, petition_id: str) -> int:
        """Recompute the counters from the signatures (repairs drift); returns the total."""

    async def anonymize_signed_before(
        self, petition_id: str, cutoff: datetime, *, now: datetime, batch_size: int = 500
    ) -> int:
        """Remove names and Telegram ids from signatures made before `cutoff`, in batches.

        Country, date and number stay, so every count holds. Idempotent; returns how many
        signatures were anonymised by this call. Journeys of the petition are deleted too.
        """


class UpdateInbox(Protocol):
    """Telegram updates received, claimed and finished: each is handled once."""

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


class LiveSettings(Protocol):
    """What admins change while the petition runs, and the audit trail of it."""

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

    async def shared_secret(self, name: str) -> bytes:
        """A random 32-byte secret every instance on this database shares, made once."""


class ConsoleReads(Protocol):
    """The admin console's reads: counters, never scans."""

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


class BroadcastStore(Protocol):
    """Broadcasts and their deliveries, exactly once per recipient."""

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


class Storage(
    JourneyStore, SignatureStore, UpdateInbox, LiveSettings, ConsoleReads, BroadcastStore, Protocol
):
    """Everything the bot stores, on one database."""

    async def open(self) -> None:
        """Connect and bring the schema up to date (safe when two instances start at once)."""

    async def close(self) -> None: ...
