"""The counters kept in the signing transaction (the `tallies` table), by kind.

They make the admin console as fast at ten million signatures as at ten: every figure is a
counter moved with the signature, never a scan.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from storage.records import Overview, SignatureRequest

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
