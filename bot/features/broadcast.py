"""/broadcast: the admin's side of a message to every signer who asked for updates.

An admin writes `/broadcast <text>` and sees exactly what supporters will get, then confirms
with a button; /broadcast_status and /broadcast_stop follow it. The sending itself is
bot.broadcasting's `BroadcastSender`.
"""

from __future__ import annotations

import contextlib
from html import escape

from telegram import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Update,
)
from telegram.constants import MessageLimit
from telegram.error import BadRequest, TelegramError
from telegram.ext import Application

from bot.broadcasting import excerpt, figures, send_broadcast_text
from bot.context import Context
from bot.features.admin import AdminButtonHandler, AdminCommand, AdminRequest
from bot.i18n import Translator, translator
from bot.incoming import pressed_message
from bot.screens import visible_length
from bot.settings import Settings
from storage.base import Storage
from storage.records import Broadcast, BroadcastState

BUTTON_PREFIX = "bc"


def confirm_keyboard(t: Translator, broadcast_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    t.gettext("Send"), callback_data=f"{BUTTON_PREFIX}:send:{broadcast_id}"
                ),
                InlineKeyboardButton(
                    t.gettext("Cancel"), callback_data=f"{BUTTON_PREFIX}:cancel:{broadcast_id}"
                ),
            ]
        ]
    )


def sending_text(t: Translator, expected: int) -> str:
    return t.ngettext(
        "Sending to about {count} supporter. Progress reports follow; /broadcast_stop stops it.",
        "Sending to about {count} supporters. Progress reports follow; /broadcast_stop stops it.",
        expected,
    ).format(count=t.number(expected))


async def broadcast(request: AdminRequest) -> None:
    """Validate, preview and store a draft; nothing goes out before the admin confirms."""
    t, storage = request.t, request.storage
    petition_id = request.service.petition.id
    text = request.text
    if not text:
        await request.message.reply_text(
            t.gettext(
                "Send /broadcast followed by your message, for example:\n"
                "/broadcast We reached 10,000 signatures. Thank you!\n\n"
                "It goes to every signer who asked for updates. It can span several lines "
                "and use bold, italics and links. You see a preview before anything is sent."
            )
        )
        return
    length = visible_length(text)
    if length > MessageLimit.MAX_TEXT_LENGTH:
        await request.message.reply_text(
            t.gettext(
                "That message is too long for Telegram: {length} characters, at most {limit}. "
                "Please shorten it."
            ).format(length=t.number(length), limit=t.number(MessageLimit.MAX_TEXT_LENGTH))
        )
        return
    latest = await storage.latest_broadcast(petition_id)
    if latest is not None and latest.state is BroadcastState.SENDING:
        await request.message.reply_text(_busy_text(t))
        return
    try:
        await send_broadcast_text(request.context.bot, request.message.chat_id, text)
    except BadRequest as error:
        await request.message.reply_text(
            t.gettext("Telegram refused this message ({reason}). Nothing was saved.").format(
                reason=escape(error.message)
            )
        )
        return
    broadcast_id = await storage.create_broadcast(
        petition_id, request.admin_id, text, now=request.service.clock()
    )
    expected = (await storage.overview(petition_id)).opted_in
    await request.message.reply_text(
        t.ngettext(
            "Send this to about {count} supporter who asked for updates?",
            "Send this to about {count} supporters who asked for updates?",
            expected,
        ).format(count=t.number(expected)),
        reply_markup=confirm_keyboard(t, broadcast_id),
    )


def _busy_text(t: Translator) -> str:
    return t.gettext(
        "A broadcast is being sent right now. Wait until it is done (/broadcast_status shows "
        "how it is going), or stop it with /broadcast_stop."
    )


async def broadcast_status(request: AdminRequest) -> None:
    t, storage = request.t, request.storage
    petition_id = request.service.petition.id
    latest = await storage.latest_broadcast(petition_id)
    if latest is None:
        await request.message.reply_text(t.gettext("No broadcast yet."))
        return
    headers = {
        BroadcastState.SENDING: t.gettext("Broadcast #{id} of {date} is being sent."),
        BroadcastState.DONE: t.gettext("Broadcast #{id} of {date} is finished."),
        BroadcastState.STOPPED: t.gettext("Broadcast #{id} of {date} was stopped."),
    }
    header = headers.get(latest.state, headers[BroadcastState.DONE])
    expected = (await storage.overview(petition_id)).opted_in
    lines = [
        header.format(id=latest.id, date=t.date(latest.created_at)),
        f"“{excerpt(latest.text)}”",
        figures(t, latest.progress, expected, unknown=latest.state is not BroadcastState.SENDING),
    ]
    await request.message.reply_text("\n".join(lines))


async def broadcast_stop(request: AdminRequest) -> None:
    t, storage = request.t, request.storage
    latest = await storage.latest_broadcast(request.service.petition.id)
    if latest is None or not await storage.set_broadcast_state(
        latest.id, BroadcastState.STOPPED, expected=BroadcastState.SENDING
    ):
        await request.message.reply_text(t.gettext("No broadcast is being sent right now."))
        return
    await request.message.reply_text(
        t.gettext(
            "Broadcast #{id} is stopped: no further messages go out, and it is not resumed. "
            "/broadcast_status shows the final figures."
        ).format(id=latest.id)
    )


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
        await _answer(query, t.gettext("This button is no longer valid."))
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
        await _answer(query, t.gettext("This button is no longer valid."))
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
        await _answer(query, _busy_text(t), alert=True)
        return
    # Only the first press (of any admin, on any instance) moves the draft on.
    if not await storage.set_broadcast_state(
        draft.id, BroadcastState.SENDING, expected=BroadcastState.DRAFT
    ):
        await _answer(query, _state_notice(t, await storage.get_broadcast(draft.id)))
        return
    sender = context.bot_data.broadcast_senders.get(draft.petition_id)
    if sender is not None:
        sender.wake()  # start now rather than at the next poll
    expected = (await storage.overview(draft.petition_id)).opted_in
    await _edit(query, sending_text(t, expected))
    await _answer(query, None)


async def _cancel(query: CallbackQuery, t: Translator, storage: Storage, draft: Broadcast) -> None:
    if not await storage.set_broadcast_state(
        draft.id, BroadcastState.CANCELLED, expected=BroadcastState.DRAFT
    ):
        await _answer(query, _state_notice(t, await storage.get_broadcast(draft.id)))
        return
    await _edit(query, t.gettext("Cancelled: nothing was sent."))
    await _answer(query, None)


def _state_notice(t: Translator, current: Broadcast | None) -> str:
    if current is not None and current.state is BroadcastState.CANCELLED:
        return t.gettext("This broadcast was cancelled.")
    return t.gettext("This broadcast has already started. /broadcast_stop stops it.")


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
