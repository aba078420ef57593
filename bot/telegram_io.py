"""Screens onto Telegram: keyboards, sending, editing in place, Bot API errors handled."""

from __future__ import annotations

import hashlib
import logging

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden

from bot.screens import Screen

log = logging.getLogger(__name__)


def pseudonym(user_id: int | None) -> str:
    """A stable stand-in for a Telegram id in logs, so logs name no one."""
    if user_id is None:
        return "-"
    return hashlib.blake2b(str(user_id).encode(), digest_size=6, person=b"petition-log").hexdigest()


def keyboard(screen: Screen) -> InlineKeyboardMarkup | None:
    if not screen.buttons:
        return None
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(button.text, callback_data=button.data, url=button.url)
                for button in row
            ]
            for row in screen.buttons
        ]
    )


async def send_screen(bot: Bot, chat_id: int, screen: Screen) -> bool:
    """Send a new message; False when the supporter has blocked the bot (never retried)."""
    try:
        await bot.send_message(chat_id, screen.text, reply_markup=keyboard(screen))
    except Forbidden:
        log.info("chat %s blocked the bot; reply dropped", pseudonym(chat_id))
        return False
    return True


async def edit_screen(bot: Bot, chat_id: int, message_id: int, screen: Screen) -> bool:
    """Show the screen in place of the pressed message, or as a new message if that fails.

    False when the supporter has blocked the bot.
    """
    try:
        await bot.edit_message_text(
            screen.text, chat_id=chat_id, message_id=message_id, reply_markup=keyboard(screen)
        )
    except BadRequest as error:
        if "not modified" in error.message.lower():
            return True  # the supporter already sees exactly this screen
        # Too old to edit, deleted, or otherwise gone: the next screen comes as a new message.
        log.info("could not edit in chat %s (%s); sending a new message", pseudonym(chat_id), error)
        return await send_screen(bot, chat_id, screen)
    except Forbidden:
        log.info("chat %s blocked the bot; edit dropped", pseudonym(chat_id))
        return False
    return True
