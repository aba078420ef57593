"""What every part of the transfer shares: exit statuses, the tables copied, errors, counts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
DEFAULT_BATCH_SIZE = 5_000

Row = tuple[Any, ...]

# Every table a petition owns, in copying order, with the column its rows are streamed along.
TABLES: dict[str, str] = {
    "petition_counts": "petition_id",
    "country_counts": "country",
    "signatures": "number",
    "journeys": "user_id",
    "audit_log": "id",
    "tallies": "kind, key",
    "milestones": "mark",
}
# Not campaign data: the schema's version, which Telegram updates were already processed
# (only useful for a day, and only to the instances that processed them), and broadcasts
# (their deliveries point at Telegram chats of the old instances' run; stop one before moving),
# which petition each supporter had open last (they open it again with a tap), and the key
# of the log pseudonyms (the destination makes its own).
_BOOKKEEPING_TABLES = frozenset(
    {
        "schema_version",
        "update_claims",
        "broadcasts",
        "broadcast_deliveries",
        "supporter_focus",
        "bot_secrets",
    }
)


class TransferError(Exception):
    """A transfer that cannot go on; the message is one line for the operator."""

    exit_status = EXIT_FAILED


class UsageError(TransferError):
    """Bad arguments or URLs, or a database that cannot be opened."""

    exit_status = EXIT_USAGE


class RefusedError(TransferError):
    """The destination already holds data for a petition and `--replace` was not given."""

    exit_status = EXIT_USAGE


class VerificationError(TransferError):
    """The copy does not match the source (it was rolled back)."""

    exit_status = EXIT_FAILED


@dataclass(frozen=True, slots=True)
class PetitionStats:
    """What verification compares between source and destination for one petition."""

    has_counter: bool
    total: int
    last_number: int
    countries: dict[str, int]  # every country_counts row, zeros included
    signatures: int
    max_number: int
    journeys: int

    @property
    def empty(self) -> bool:
        return not (self.has_counter or self.countries or self.signatures or self.journeys)

    def describe(self) -> str:
        if not (self.signatures or self.journeys):
            return "counters only"
        return f"{_count(self.signatures, 'signature')}, {_count(self.journeys, 'journey')}"


@dataclass(frozen=True, slots=True)
class PetitionReport:
    petition_id: str
    signatures: int
    countries: int
    journeys: int

    def summary(self) -> str:
        return (
            f"{self.petition_id}: {_count(self.signatures, 'signature')}, "
            f"{_count(self.countries, 'country', 'countries')}, "
            f"{_count(self.journeys, 'journey')} copied; counts verified"
        )


def _count(number: int, singular: str, plural: str | None = None) -> str:
    return f"{number:,} {singular if number == 1 else plural or singular + 's'}"
