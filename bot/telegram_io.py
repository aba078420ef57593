"""Screens onto Telegram: keyboards, sending, editing in place, Bot API errors handled."""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, WebAppInfo
from telegram.error import BadRequest, Forbidden

from bot.ptb_seam import DEFAULT_NONE, post_without_parsing
from bot.ratelimit import CallKind, deliver_or_park
from bot.screens import Button, Screen

log = logging.getLogger(__name__)


# The key of the log pseudonyms: random per process until the bot sets the shared one
# (LOG_SECRET, else a secret kept in the database), so that without the key a pseudonym
# cannot be turned back into an id by trying every id.
_pseudonym_key = secrets.token_bytes(32)


def set_pseudonym_key(key: bytes) -> None:
    global _pseudonym_key
    _pseudonym_key = key


def pseudonym(user_id: int | None) -> str:
    """A stand-in for a Telegram id in logs, stable per supporter across instances sharing a
    key, so logs name no one: a keyed hash (BLAKE2b used as a MAC)."""
    if user_id is None:
        return "-"
    digest = hashlib.blake2b(
        str(user_id).encode(), digest_size=8, key=_pseudonym_key, person=b"petition-log"
    )
    return digest.hexdigest()


def keyboard(screen: Screen) -> dict[str, Any] | None:
    """The screen's buttons as the Bot API's InlineKeyboardMarkup object."""
    if not screen.buttons:
        return None
    return {"inline_keyboard": [[_button(button) for button in row] for row in screen.buttons]}


def _button(button: Button) -> dict[str, object]:
    if button.web_app is not None:
        return {"text": button.text, "web_app": {"url": button.web_app}}
    if button.url is not None:
        return {"text": button.text, "url": button.url}
    return {"text": button.text, "callback_data": button.data}


def inline_markup(screen: Screen) -> InlineKeyboardMarkup | None:
    """The screen's buttons as PTB's markup, for replies sent through PTB (admin screens)."""
    if not screen.buttons:
        return None
    return InlineKeyboardMarkup([[_ptb_button(button) for button in row] for row in screen.buttons])


def _ptb_button(button: Button) -> InlineKeyboardButton:
    if button.web_app is not None:
        return InlineKeyboardButton(button.text, web_app=WebAppInfo(button.web_app))
    if button.url is not None:
        return InlineKeyboardButton(button.text, url=button.url)
    return InlineKeyboardButton(button.text, callback_data=button.data)


async def reply_screen(message: Message, screen: Screen) -> None:
    """Answer an admin's command with a screen (text and buttons)."""
    await message.reply_text(screen.text, reply_markup=inline_markup(screen))


async def _post_screen(bot: Bot, endpoint: str, screen: Screen, **target: int) -> None:
    """Send or edit, without turning Telegram's reply into a PTB Message (bot.ptb_seam)."""
    data: dict[str, object] = {
        **target,
        "text": screen.text,
        "reply_markup": keyboard(screen),
        "parse_mode": DEFAULT_NONE,
        "link_preview_options": DEFAULT_NONE,
    }
    await post_without_parsing(bot, endpoint, data, rate_limit_args=CallKind.SCREEN)


async def send_screen(bot: Bot, chat_id: int, screen: Screen) -> bool:
    """Send a new message; False when the supporter has blocked the bot (never retried)."""
    try:
        await _post_screen(bot, "sendMessage", screen, chat_id=chat_id)
    except Forbidden:
        log.info("chat %s blocked the bot; reply dropped", pseudonym(chat_id))
        return False
    return True


async def edit_screen(bot: Bot, chat_id: int, message_id: int, screen: Screen) -> bool:
    """Show the screen in place of the pressed message, or as a new message if that fails.

    False when the supporter has blocked the bot.
    """
    try:
        await _post_screen(bot, "editMessageText", screen, chat_id=chat_id, message_id=message_id)
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


async def show_screen(
    bot: Bot,
    chat_id: int,
    screen: Screen,
    *,
    edit: int | None = None,
    on_blocked: Callable[[], Awaitable[None]],
) -> None:
    """A supporter's screen: in place of message `edit` (else as a new message), now, or, if
    Telegram paused their chat, when the pause ends (then only their latest screen shows).
    `on_blocked` runs when they have blocked the bot."""

    async def deliver() -> None:
        if edit is not None:
            shown = await edit_screen(bot, chat_id, edit, screen)
        else:
            shown = await send_screen(bot, chat_id, screen)
        if not shown:
            await on_blocked()

    await deliver_or_park(deliver)
