#!/usr/bin/env python3
"""Run the petition bot: `python run_bot.py [--petition PATH] [--sandbox]`."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import warnings
from pathlib import Path

from telegram import Update

from bot.app import build_application, use_fast_event_loop
from bot.logs import configure_logging
from bot.petition import PetitionFileError
from bot.petitions import Catalog, load_petitions
from bot.sandbox import run_sandbox
from bot.screens import check_petition_fits
from bot.settings import ConfigError, Settings, load_settings
from bot.webhook import serve_webhook
from storage import open_storage

SANDBOX_DATABASE_URL = "sqlite:///sandbox.db"


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--petition",
        type=Path,
        help="petition file, folder of them, or comma-separated files (default: PETITION_FILE)",
    )
    parser.add_argument(
        "--sandbox",
        action="store_true",
        help="play the journey in this terminal: no token, no network",
    )
    return parser.parse_args(argv)


def configure(arguments: argparse.Namespace) -> Settings:
    overrides: dict[str, object] = {}
    if arguments.petition is not None:
        overrides["petition_file"] = arguments.petition
    with warnings.catch_warnings(record=True) as notes:
        warnings.simplefilter("always", FutureWarning)
        settings = load_settings(**overrides)
    for note in notes:  # a deprecated setting: one line, not a traceback-like warning
        print(f"warning: {note.message}", file=sys.stderr)
    if arguments.sandbox and "database_url" not in settings.model_fields_set:
        # Practice signatures never land in the real petition's database by accident.
        settings = settings.model_copy(update={"database_url": SANDBOX_DATABASE_URL})
    return settings


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    use_fast_event_loop()
    try:
        settings = configure(arguments)
        configure_logging(settings.log_level, settings.log_format)
        catalog = Catalog(tuple(load_petitions(settings.petition_file)))
        for petition in catalog.petitions:
            check_petition_fits(petition)
        try:
            storage = open_storage(settings.database_url)
        except ValueError as error:
            raise ConfigError(str(error)) from None
        if arguments.sandbox:
            asyncio.run(run_sandbox(storage, catalog))
            return 0
        application = build_application(settings, storage, catalog, reload_on_sighup=True)
        if settings.webhook_url:
            settings.webhook_secret_or_raise()
    except (ConfigError, PetitionFileError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if settings.webhook_url:
        asyncio.run(serve_webhook(application, settings))
        return 0
    application.run_polling(
        allowed_updates=Update.ALL_TYPES,
        timeout=settings.polling_timeout,
        stop_signals=(signal.SIGINT, signal.SIGTERM),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
