"""The records the bot stores and reads back: plain data, with no import of the bot.

Storage speaks these; the bot's rules (bot.flow) read and make them. Dependencies run one
way: bot → storage.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Step(StrEnum):
    INTRO = "intro"
    DEMANDS = "demands"
    COUNTRY = "country"
    SEARCH = "search"  # the supporter typed part of a country name; matches shown as buttons
    AGE = "age"
    GUARDIAN = "guardian"  # under the minimum age: a parent's or guardian's consent is needed
    CONSENT = "consent"
    NAME = "name"
    PREVIEW = "preview"
    LEFT = "left"  # chose to leave at the guardian step
    SIGNED = "signed"  # just signed: thank-you screen
    DONE = "done"  # came back after signing
    CLOSED = "closed"  # deadline passed or petition paused
    WITHDRAW = "withdraw"  # asked to withdraw the signature: confirm or keep it
    WITHDRAWN = "withdrawn"  # the signature was removed


@dataclass(frozen=True, slots=True)
class Journey:
    """One supporter's progress through one petition, with the answers given so far."""

    step: Step = Step.INTRO
    resume_step: Step | None = None
    country: str | None = None
    country_matches: tuple[str, ...] = ()
    meets_minimum_age: bool | None = None
    # The minimum age the answer above was given against (the country's rule at the time): a
    # rule changed since (the petition file edited) asks the question again before signing.
    answered_minimum_age: int | None = None
    guardian_consent: bool = False
    consent: bool = False
    wants_updates: bool = False
    name: str | None = None
    referrer: str | None = None
    progress: int = 0  # how many FUNNEL_STAGES this supporter has reached, ever

    def restarted(self) -> Journey:
        """A fresh journey that remembers only where the supporter came from (and got to)."""
        return Journey(referrer=self.referrer, progress=self.progress)


@dataclass(frozen=True, slots=True)
class Signature:
    """What storage knows about an existing signature (only what the journey needs)."""

    number: int
    signed_at: datetime
    country: str
    referral_code: str


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
class Overview:
    """The campaign at a glance, read from counter tables only (fast at millions)."""

    total: int
    goal: int | None  # set live by an admin; None: the petition file's
    paused: bool | None
    opted_in: int  # signers who asked for updates
    referred: int  # signatures that came through someone's link
    countries: dict[str, int]  # best first
    languages: dict[str, int]  # best first
    funnel: dict[str, int]  # stage (bot.flow.FUNNEL_STAGES) -> supporters who reached it


@dataclass(frozen=True, slots=True)
class ExportRow:
    number: int
    signed_at: datetime
    name: str | None  # None once anonymised
    user_id: int | None  # None once anonymised
    country: str
    language: str
    wants_updates: bool
    guardian_consent: bool
    text_version: str
    referred_by: str | None


class BroadcastState(StrEnum):
    DRAFT = "draft"  # written, waiting for the admin's confirmation
    SENDING = "sending"
    STOPPED = "stopped"  # an admin stopped it
    DONE = "done"
    CANCELLED = "cancelled"  # the admin did not confirm


class Delivery(StrEnum):
    QUEUED = "queued"  # claimed for sending, not tried yet
    SENDING = "sending"  # handed to Telegram: if we crash now, we cannot know; never resent
    SENT = "sent"
    BLOCKED = "blocked"  # 403: they blocked the bot
    FAILED = "failed"  # any other refusal (deleted account, ...)


@dataclass(frozen=True, slots=True)
class Broadcast:
    id: int
    petition_id: str
    text: str  # HTML
    created_by: int
    created_at: datetime
    state: BroadcastState
    progress: dict[Delivery, int]  # deliveries by state so far
    owner: str | None = None  # the process sending it now
    lease_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class ReferralOwner:
    """Whose share code it is: the signer (of that petition) it was given to."""

    petition_id: str
    user_id: int


@dataclass(frozen=True, slots=True)
class SignResult:
    signature: Signature
    created: bool  # False: this supporter had already signed (double tap, redelivery, a race)
    total: int
