"""Copy a campaign's data from one storage backend to another (e.g. SQLite → PostgreSQL).

A campaign that outgrows one machine moves its SQLite file to a shared PostgreSQL database::

    python -m storage.transfer --from sqlite:///petition.db \\
        --to 'postgresql://user@host/db?schema=campaign' [--replace] [--batch-size 5000]

Any backend `storage.open_storage` accepts works on either side (PostgreSQL → SQLite too).
Stop the bot before copying: the copy is a snapshot of the source.

What it does, for every petition found in the source (in any of the tables below):

* opens both databases with `storage.open_storage(url)` + `open()`, which creates or migrates
  their schemas (so both end up on the same schema version);
* refuses, before copying anything, when the destination already holds rows for a petition
  being copied (signatures, counters or journeys): no silent merge. `--replace` deletes that
  petition's rows in the destination first, in the same transaction as the copy;
* copies `petition_counts`, `country_counts`, `signatures`, `journeys`, `audit_log`, `tallies`
  and `milestones`, every column (read
  from the live schemas, so columns added by later migrations come along; a table or column
  only one side has stops the transfer rather than being left behind), as they are: counters
  are not recomputed, and `last_number` travels with them, so signer numbers continue where
  they stopped and a withdrawn number is never handed out again;
* streams rows in batches (`--batch-size`, 5,000 by default) from one consistent snapshot of
  the source into one destination transaction per petition (COPY on PostgreSQL, executemany
  on SQLite), so an interrupted copy leaves nothing half-copied;
* verifies inside that transaction, before committing: total, last number, per-country
  counts, number of signatures, highest signer number and number of journeys must equal the
  source's. A mismatch rolls the petition back;
* prints one line per petition, e.g.
  ``five-eyes-organ-harvesting: 12,345 signatures, 34 countries, 2,001 journeys copied; counts
  verified``.

Values are converted between the dialects: SQLite keeps timestamps as ISO-8601 text with an
offset (text without one is taken as UTC) and booleans as 0/1; PostgreSQL uses timestamptz and
boolean. A timestamp keeps its instant; PostgreSQL gives it back in UTC.

Exit status: 0 copied and verified; 1 a verification failure or a database error while copying
(the petition concerned is rolled back; petitions reported before it stay copied); 2 bad
arguments or URLs, or data already in the destination without `--replace`.
"""

from storage.transfer.cli import main, run
from storage.transfer.common import (
    DEFAULT_BATCH_SIZE,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    TABLES,
    PetitionReport,
    PetitionStats,
    RefusedError,
    TransferError,
    UsageError,
    VerificationError,
)
from storage.transfer.copying import transfer
from storage.transfer.sessions import _PostgresSession, _SQLiteSession
from storage.transfer.urls import redact

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "TABLES",
    "PetitionReport",
    "PetitionStats",
    "RefusedError",
    "TransferError",
    "UsageError",
    "VerificationError",
    "_PostgresSession",
    "_SQLiteSession",
    "main",
    "redact",
    "run",
    "transfer",
]
