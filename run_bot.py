#!/usr/bin/env python3
"""Run the petition bot: `python run_bot.py [--petition PATH] [--sandbox]`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import warnings
from pathlib import Path

from telegram import Update
from telegram.error import InvalidToken, NetworkError
from telegram.ext import Application

from bot.app import build_application, use_fast_event_loop
from bot.logs import configure_logging, redact, token_secrets
from bot.petition import PetitionFileError
from bot.petitions import Catalog, load_petitions
from bot.sandbox import run_sandbox
from bot.screens import check_petition_fits
from bot.serving import raise_open_file_limit
from bot.settings import ConfigError, Settings, load_settings
from bot.webhook import serve_webhook
from storage import open_storage
from storage.base import StorageUnavailable

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
    secrets: list[str] = []
    try:
        settings = configure(arguments)
        secrets = secrets_of(settings)
        configure_logging(settings.log_level, settings.log_format, secrets)
        catalog = Catalog(tuple(load_petitions(settings.petition_file)))
        for petition in catalog.petitions:
            check_petition_fits(petition)
        try:
            storage = open_storage(settings.database_url)
        except ValueError as error:
            raise ConfigError(str(error)) from None
        if arguments.sandbox:
            try:
                asyncio.run(run_sandbox(storage, catalog, retention_days=settings.retention_days))
            except KeyboardInterrupt:  # Ctrl-C leaves the sandbox like Ctrl-D does
                print("\nBye.")
            return 0
        application = build_application(settings, storage, catalog, reload_on_sighup=True)
        raise_open_file_limit()  # connections to the Bot API and to the database need them
        quiet_start_up_failures(application)
        if settings.webhook_url:
            settings.webhook_secret_or_raise()
        if settings.webhook_url:
            asyncio.run(serve_webhook(application, settings))
        else:
            application.run_polling(
                allowed_updates=Update.ALL_TYPES,
                timeout=settings.polling_timeout,
                stop_signals=(signal.SIGINT, signal.SIGTERM),
            )
    except (ConfigError, PetitionFileError) as error:
        return fail(str(error), secrets)
    except InvalidToken:
        return fail(
            "TELEGRAM_BOT_TOKEN: Telegram does not know this token (check it with @BotFather, "
            "and that TELEGRAM_API_URL is the Bot API's address)",
            secrets,
        )
    except StorageUnavailable as error:
        return fail(f"DATABASE_URL: {error}", secrets)
    except NetworkError as error:  # at start-up only: once running, PTB retries by itself
        return fail(f"TELEGRAM_API_URL: cannot reach the Bot API ({error.message})", secrets)
    return 0


class UntilStarted(logging.Filter):
    """python-telegram-bot logs a start-up failure (a rejected token, an unreachable API) with
    its traceback, then raises it; `main` says it in one line instead."""

    def __init__(self, application: Application) -> None:
        super().__init__()
        self.application = application

    def filter(self, record: logging.LogRecord) -> bool:
        return (
            self.application.running
            or record.levelno < logging.ERROR
            or not record.name.startswith("telegram")
        )


def quiet_start_up_failures(application: Application) -> None:
    for handler in logging.getLogger().handlers:
        handler.addFilter(UntilStarted(application))


def secrets_of(settings: Settings) -> list[str]:
    token = settings.telegram_bot_token
    others = (settings.webhook_secret, settings.log_secret, settings.export_secret)
    return [
        *token_secrets(token.get_secret_value() if token else None),
        *(secret.get_secret_value() for secret in others if secret is not None),
    ]


def fail(message: str, secrets: list[str]) -> int:
    """One line on stderr, secrets cut out, and exit status 2."""
    print(f"error: {redact(message, secrets)}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
