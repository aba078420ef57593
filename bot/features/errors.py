"""The last resort: log the failure, and tell the supporter something helpful."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import Application, ContextTypes

from bot.features.signing import SERVICE_KEY
from bot.i18n import SOURCE_LANGUAGE, resolve_language, translator
from bot.telegram_io import pseudonym

log = logging.getLogger(__name__)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    user = update.effective_user if isinstance(update, Update) else None
    log.error(
        "unhandled error for user %s",
        pseudonym(user.id if user else None),
        exc_info=context.error,
    )
    if not isinstance(update, Update):
        return
    chat = update.effective_chat
    if chat is None or chat.type != ChatType.PRIVATE:
        return
    service = context.bot_data.get(SERVICE_KEY)
    default = service.petition.default_language if service else SOURCE_LANGUAGE
    language = resolve_language(None, user.language_code if user else None, default)
    text = translator(language).gettext(
        "Sorry, something went wrong on our side. Please try again in a moment: "
        "your answers so far are saved."
    )
    try:
        await context.bot.send_message(chat.id, text)
    except TelegramError:
        log.warning("could not tell user %s about the error", pseudonym(user.id if user else None))


def register(application: Application) -> None:
    application.add_error_handler(on_error)
