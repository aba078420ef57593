"""/broadcast: the admin's side of a message to every signer who asked for updates.

An admin writes `/broadcast <text>` and sees exactly what supporters will get, then confirms
with a button; /broadcast_status and /broadcast_stop follow it. The sending itself is
bot.broadcasting's `BroadcastSender`.
"""

from __future__ import annotations

import contextlib

from telegram import (
    CallbackQuery,
    Update,
)
from telegram.constants import MessageLimit
from telegram.error import BadRequest, TelegramError
from telegram.ext import Application

from bot.admin_screens import broadcasts as screens
from bot.admin_screens.broadcasts import BUTTON_PREFIX
from bot.broadcasting import send_broadcast_text
from bot.context import Context
from bot.features.admin import AdminButtonHandler, AdminCommand, AdminRequest
from bot.i18n import Translator, translator
from bot.incoming import pressed_message
from bot.screens import visible_length
from bot.settings import Settings
from bot.telegram_io import reply_screen
from storage.base import Storage
from storage.records import Broadcast, BroadcastState


async def broadcast(request: AdminRequest) -> None:
    """Validate, preview and store a draft; nothing goes out before the admin confirms."""
    t, storage = request.t, request.storage
    petition_id = request.service.petition.id
    text = request.text
    if not text:
        await request.message.reply_text(screens.usage(t))
        return
    length = visible_length(text)
    if length > MessageLimit.MAX_TEXT_LENGTH:
        await request.message.reply_text(screens.too_long(t, length, MessageLimit.MAX_TEXT_LENGTH))
        return
    latest = await storage.latest_broadcast(petition_id)
    if latest is not None and latest.state is BroadcastState.SENDING:
        await request.message.reply_text(screens.busy(t))
        return
    try:
        await send_broadcast_text(request.context.bot, request.message.chat_id, text)
    except BadRequest as error:
        await request.message.reply_text(screens.refused(t, error.message))
        return
    broadcast_id = await storage.create_broadcast(
        petition_id, request.admin_id, text, now=request.service.clock()
    )
    expected = (await storage.overview(petition_id)).opted_in
    await reply_screen(request.message, screens.confirm(t, broadcast_id, expected))


async def broadcast_status(request: AdminRequest) -> None:
    storage, petition_id = request.storage, request.service.petition.id
    latest = await storage.latest_broadcast(petition_id)
    expected = (await storage.overview(petition_id)).opted_in if latest else 0
    await request.message.reply_text(screens.status(request.t, latest, expected))


async def broadcast_stop(request: AdminRequest) -> None:
    t, storage = request.t, request.storage
    latest = await storage.latest_broadcast(request.service.petition.id)
    if latest is None or not await storage.set_broadcast_state(
        latest.id, BroadcastState.STOPPED, expected=BroadcastState.SENDING
    ):
        await request.message.reply_text(screens.nothing_sending(t))
        return
    await request.message.reply_text(screens.stopped(t, latest.id))


def admin_commands(settings: Settings) -> dict[str, AdminCommand]:
    """The broadcast commands for `admin.register`, keyed by command."""
    return {
        "broadcast": broadcast,
        "broadcast_status": broadcast_status,
        "broadcast_stop": broadcast_stop,
    }


def parse_button(data: str) -> tuple[str, int] | None:
    """(`send` or `cancel`, broadcast id) from `bc:<action>:<id>`; None for anything else."""
    parts = data.split(":")
    if len(parts) != 3 or parts[0] != BUTTON_PREFIX or parts[1] not in ("send", "cancel"):
        return None
    if not parts[2].isdigit():
        return None
    return parts[1], int(parts[2])


async def on_button(update: Update, context: Context) -> None:
    """Send or Cancel, pressed by an admin (`AdminButtonHandler` lets no one else through)."""
    query = update.callback_query
    if query is None:
        return
    t = translator(context.bot_data.quick_language(query.from_user))
    parsed = parse_button(query.data or "")
    if parsed is None:
        await _answer(query, screens.button_invalid(t))
        return
    action, broadcast_id = parsed
    desk, storage = context.bot_data.desk, context.bot_data.storage
    found = await storage.get_broadcast(broadcast_id)
    # A broadcast of a petition this bot no longer serves (or a forged id) is not acted on.
    service = desk.service(found.petition_id) if found is not None else None
    await storage.audit(
        service.petition.id if service else desk.default().petition.id,
        query.from_user.id,
        f"broadcast_{action}",
        str(broadcast_id),
        allowed=True,
        now=desk.clock(),
    )
    if found is None or service is None:
        await _answer(query, screens.button_invalid(t))
        return
    if action == "send":
        await _start(query, context, t, storage, found)
    else:
        await _cancel(query, t, storage, found)


async def _start(
    query: CallbackQuery,
    context: Context,
    t: Translator,
    storage: Storage,
    draft: Broadcast,
) -> None:
    latest = await storage.latest_broadcast(draft.petition_id)
    if latest is not None and latest.state is BroadcastState.SENDING and latest.id != draft.id:
        # The draft stays: the admin can press Send again once the other one is done.
        await _answer(query, screens.busy(t), alert=True)
        return
    # Only the first press (of any admin, on any instance) moves the draft on.
    if not await storage.set_broadcast_state(
        draft.id, BroadcastState.SENDING, expected=BroadcastState.DRAFT
    ):
        await _answer(query, screens.state_notice(t, await storage.get_broadcast(draft.id)))
        return
    sender = context.bot_data.broadcast_senders.get(draft.petition_id)
    if sender is not None:
        sender.wake()  # start now rather than at the next poll
    expected = (await storage.overview(draft.petition_id)).opted_in
    await _edit(query, screens.sending(t, expected))
    await _answer(query, None)


async def _cancel(query: CallbackQuery, t: Translator, storage: Storage, draft: Broadcast) -> None:
    if not await storage.set_broadcast_state(
        draft.id, BroadcastState.CANCELLED, expected=BroadcastState.DRAFT
    ):
        await _answer(query, screens.state_notice(t, await storage.get_broadcast(draft.id)))
        return
    await _edit(query, screens.cancelled(t))
    await _answer(query, None)


async def _answer(query: CallbackQuery, text: str | None, *, alert: bool = False) -> None:
    # An expired query (the bot was down for a while) must not stop the admin's action.
    with contextlib.suppress(TelegramError):
        await query.answer(text, show_alert=alert)


async def _edit(query: CallbackQuery, text: str) -> None:
    pressed = pressed_message(query)
    if pressed is None or not pressed.editable:
        return  # deleted or too old: the answer still tells
    with contextlib.suppress(TelegramError):
        await query.get_bot().edit_message_text(
            text, chat_id=pressed.chat_id, message_id=pressed.message_id, reply_markup=None
        )


def register(application: Application, settings: Settings) -> None:
    """Add the Send/Cancel buttons. Call before `signing.register`: group 0 is first come,
    first served, and the signing handlers take every button press."""
    application.add_handler(AdminButtonHandler(BUTTON_PREFIX, on_button, settings.admin_ids))
