"""Outside private chats the bot only points people to a private chat, where signing happens."""

from __future__ import annotations

import contextlib

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import TelegramError
from telegram.ext import Application, CommandHandler, filters

from bot.context import Context
from bot.features.share import start_link
from bot.i18n import translator


async def on_group_start(update: Update, context: Context) -> None:
    message = update.effective_message
    if message is None:
        return
    petition = context.bot_data.desk.default().petition
    user = update.effective_user
    language = context.bot_data.quick_language(user)
    t = translator(language)
    title = petition.text_for(language).title
    text = t.format(
        t.gettext("To read and sign <b>{title}</b>, open a private chat with me."), title=title
    )
    button = InlineKeyboardButton(
        t.gettext("Open private chat"), url=start_link(context.bot.username or "", petition.id)
    )
    # No right to write here, or the group is gone: silence is fine.
    with contextlib.suppress(TelegramError):
        await message.reply_text(text, reply_markup=InlineKeyboardMarkup([[button]]))


def register(application: Application) -> None:
    groups = filters.ChatType.GROUPS & filters.UpdateType.MESSAGE
    application.add_handler(CommandHandler(["start", "help"], on_group_start, filters=groups))
