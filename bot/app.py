"""Builds the PTB Application: the only place where the bot is wired together."""

from __future__ import annotations

import logging
import os

from telegram import BotCommand, BotCommandScopeAllPrivateChats, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, Defaults

from bot.features import errors, groups, signing
from bot.i18n import SOURCE_LANGUAGE, available_languages, translator
from bot.petition import Petition
from bot.processing import PerUserUpdateProcessor
from bot.service import JourneyService
from bot.settings import Settings
from storage.base import Storage

log = logging.getLogger(__name__)

SERVICE_KEY = signing.SERVICE_KEY
STORAGE_KEY = "storage"


def command_list(language: str) -> list[BotCommand]:
    """The private-chat command menu in one language."""
    t = translator(language)
    return [
        BotCommand("start", t.gettext("Read and sign the petition")),
        BotCommand("status", t.gettext("How many have signed")),
        BotCommand("privacy", t.gettext("What is stored about you")),
        BotCommand("help", t.gettext("What this bot can do")),
        BotCommand("cancel", t.gettext("Start over")),
    ]


async def _post_init(application: Application) -> None:
    storage: Storage = application.bot_data[STORAGE_KEY]
    await storage.open()
    service: JourneyService = application.bot_data[SERVICE_KEY]
    service.bot_username = application.bot.username
    scope = BotCommandScopeAllPrivateChats()
    for language in available_languages():
        code = None if language == SOURCE_LANGUAGE else language.split("_")[0]
        await application.bot.set_my_commands(
            command_list(language), scope=scope, language_code=code
        )
    log.info("bot @%s serving petition %r", application.bot.username, service.petition.id)


async def _post_shutdown(application: Application) -> None:
    storage: Storage = application.bot_data[STORAGE_KEY]
    await storage.close()


def build_application(settings: Settings, storage: Storage, petition: Petition) -> Application:
    # Opt in to PTB 22's timedelta durations: otherwise every 429 (RetryAfter) emits a
    # deprecation warning while the rate limiter reads its retry_after.
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    api = settings.telegram_api_url
    application = (
        ApplicationBuilder()
        .token(settings.token_or_raise())
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
        .rate_limiter(AIORateLimiter(overall_max_rate=settings.api_rate_limit, max_retries=3))
        .concurrent_updates(PerUserUpdateProcessor(settings.max_concurrent_updates))
        .get_updates_read_timeout(settings.polling_timeout + 10)
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
        .build()
    )
    application.bot_data[STORAGE_KEY] = storage
    signing.register(application, JourneyService(storage, petition))
    groups.register(application)
    errors.register(application)
    return application
