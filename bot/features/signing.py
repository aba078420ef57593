"""The signing journey on Telegram: decode the update, let the service answer, show the screen."""

from __future__ import annotations

import asyncio
import contextlib

from telegram import CallbackQuery, Update, User
from telegram.error import TelegramError
from telegram.ext import Application, CallbackQueryHandler, MessageHandler, filters

from bot.context import Context
from bot.flow import Command, Event, Pressed, Typed
from bot.incoming import pressed_message
from bot.service import Supporter
from bot.telegram_io import show_screen

MAX_COMMAND_LENGTH = 32
MAX_PAYLOAD_LENGTH = 64  # Telegram's limit for /start deep-link payloads


def supporter_of(user: User) -> Supporter:
    return Supporter(user_id=user.id, profile_name=user.full_name, language_code=user.language_code)


def decode_text(text: str, bot_username: str) -> Event | None:
    """A typed message as a flow event; None for a command addressed to another bot."""
    if not text.startswith("/"):
        return Typed(text)
    head, _, payload = text.partition(" ")
    name, _, addressee = head[1:].partition("@")
    if addressee and addressee.casefold() != bot_username.casefold():
        return None
    return Command(name.casefold()[:MAX_COMMAND_LENGTH], payload.strip()[:MAX_PAYLOAD_LENGTH])


async def on_private_message(update: Update, context: Context) -> None:
    message = update.message
    if message is None or message.from_user is None:
        return
    # Stickers, photos, voice notes...: the flow answers "please use text / the buttons".
    event = decode_text(message.text or "", context.bot.username or "")
    if event is None:
        return
    desk = context.bot_data.desk
    user_id = message.from_user.id
    screen = await desk.handle(supporter_of(message.from_user), event)
    await show_screen(
        context.bot, message.chat_id, screen, on_blocked=lambda: desk.mark_blocked(user_id)
    )


async def on_button(update: Update, context: Context) -> None:
    query = update.callback_query
    if query is None:
        return
    replies = context.bot_data.webhook_replies
    if replies is not None and replies.offer(
        update.update_id, "answerCallbackQuery", callback_query_id=query.id
    ):
        answered: asyncio.Future[None] | None = None  # rides on the webhook's answer
    else:  # stop the button's spinner at once, while the answer is being prepared
        answered = asyncio.create_task(_answer_quietly(query))
    try:
        pressed = pressed_message(query)
        if pressed is None or not pressed.in_private_chat:
            return  # a button on an inline-mode or group message: nothing to do here
        desk = context.bot_data.desk
        screen = await desk.handle(
            supporter_of(query.from_user),
            Pressed(query.data or ""),
            message_id=pressed.message_id,
        )
        user_id = query.from_user.id
        await show_screen(
            context.bot,
            pressed.chat_id,
            screen,
            # Deleted, or too old for Telegram to show us: answer with a new message.
            edit=pressed.message_id if pressed.editable else None,
            on_blocked=lambda: desk.mark_blocked(user_id),
        )
    finally:
        if answered is not None:
            await answered


async def _answer_quietly(query: CallbackQuery) -> None:
    # An expired query id (the bot was down for a while) must not stop the journey.
    with contextlib.suppress(TelegramError):
        await query.answer()


def register(application: Application) -> None:
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    application.add_handler(MessageHandler(private, on_private_message))
    application.add_handler(CallbackQueryHandler(on_button))
