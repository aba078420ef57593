"""The command line: `python -m storage.transfer --from URL --to URL`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from storage.transfer.common import DEFAULT_BATCH_SIZE, EXIT_OK, EXIT_USAGE, TransferError
from storage.transfer.copying import transfer

# --- Command line ---


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m storage.transfer",
        description="Copy every petition's signatures, counters and journeys from one "
        "database to another (e.g. SQLite to PostgreSQL), then verify the counts.",
    )
    parser.add_argument(
        "--from", dest="source", required=True, metavar="URL", help="e.g. sqlite:///petition.db"
    )
    parser.add_argument(
        "--to",
        dest="destination",
        required=True,
        metavar="URL",
        help="e.g. postgresql://user@host/db?schema=campaign",
    )
    parser.add_argument(
        "--replace",
        action="store_true",
        help="delete a petition's rows in the destination before copying it (default: refuse)",
    )
    parser.add_argument(
        "--batch-size",
        type=_positive,
        default=DEFAULT_BATCH_SIZE,
        metavar="N",
        help=f"rows per batch (default {DEFAULT_BATCH_SIZE:,})",
    )
    return parser


async def run(argv: Sequence[str] | None = None) -> int:
    """The command line, for an event loop that is already running; returns the exit status."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exit_:  # argparse has printed the usage (or the help)
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    try:
        reports = await transfer(
            args.source,
            args.destination,
            replace=args.replace,
            batch_size=args.batch_size,
            on_copied=lambda report: print(report.summary(), flush=True),
        )
    except TransferError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_status
    if not reports:
        print("nothing to copy: the source holds no petitions")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(run(argv))
