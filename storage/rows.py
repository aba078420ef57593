"""How records become rows and rows records, the same in every backend."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

import orjson

from storage.records import ExportRow, Journey, SignResult, Step

log = logging.getLogger(__name__)

REFERRAL_CODE_BYTES = 9  # 12 URL-safe characters: collisions are negligible at 10M signers


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


def new_referral_code() -> str:
    return secrets.token_urlsafe(REFERRAL_CODE_BYTES)


# Codes are random: a clash is rare, and several in a row mean something else is wrong.
MAX_REFERRAL_CODE_ATTEMPTS = 5


async def sign_with_fresh_code(
    sign: Callable[[str], Awaitable[SignResult]], code_taken: Callable[[Exception], bool]
) -> SignResult:
    """Sign with a newly drawn share code; draw again while the database says another
    signer already holds it (`code_taken`). Shared by both backends' `sign`."""
    for _attempt in range(MAX_REFERRAL_CODE_ATTEMPTS):
        try:
            return await sign(new_referral_code())
        except Exception as error:
            if not code_taken(error):
                raise
    raise RuntimeError("could not draw a unique referral code")


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
