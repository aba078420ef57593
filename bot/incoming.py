"""What the bot reads of an incoming update, taken out before PTB parses it.

A pressed button's update carries the whole message the button sits on: its text, entities
and keyboard. PTB parses it into a `Message`, an object of about a hundred attributes (even
for a message Telegram calls inaccessible), on every press: a fifth of the bot's CPU in
profiles, for something nothing here reads. The handlers need four facts of it: the chat's id
and type, the message's id, and whether it can still be edited (Telegram sends date 0 for a
message too old to show). So `trim_update` replaces the message with those facts, which PTB
keeps in the query's `api_kwargs`, and `pressed_message` reads them back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from telegram import CallbackQuery, Message, Update
from telegram.constants import ChatType

# Unknown fields of an update end up in PTB's `api_kwargs` of the object that carries them.
PRESSED_FIELD = "petition_bot_pressed"


@dataclass(frozen=True, slots=True)
class PressedMessage:
    """The message a pressed button sits on, as far as the bot cares."""

    chat_id: int
    chat_type: str
    message_id: int
    editable: bool

    @property
    def in_private_chat(self) -> bool:
        return self.chat_type == ChatType.PRIVATE


def trim_update(update: Any) -> Any:
    """The update with a callback query's message replaced by what the bot reads of it (in
    place). Anything that is not an update object is returned as it is, for the caller to
    refuse."""
    if not isinstance(update, dict):
        return update
    query = update.get("callback_query")
    if not isinstance(query, dict):
        return update
    message = query.get("message")
    if not isinstance(message, dict):
        return update
    chat = message.get("chat")
    if isinstance(chat, dict) and "id" in chat and "message_id" in message:
        query[PRESSED_FIELD] = {
            "chat_id": chat["id"],
            "chat_type": chat.get("type", ""),
            "message_id": message["message_id"],
            "editable": bool(message.get("date")),
        }
        del query["message"]
    return update


def pressed_message(query: CallbackQuery) -> PressedMessage | None:
    """The message the pressed button sits on; None for a button on an inline-mode message."""
    pressed = query.api_kwargs.get(PRESSED_FIELD)
    if isinstance(pressed, dict):
        return PressedMessage(**pressed)
    message = query.message  # an update that was not trimmed
    if message is None:
        return None
    return PressedMessage(
        chat_id=message.chat.id,
        chat_type=message.chat.type,
        message_id=message.message_id,
        editable=isinstance(message, Message) and message.is_accessible,
    )


def private_chat_of(update: Update) -> int | None:
    """The private chat an update came from (a pressed button's included), else None."""
    if update.callback_query is not None:
        pressed = pressed_message(update.callback_query)
        return pressed.chat_id if pressed is not None and pressed.in_private_chat else None
    chat = update.effective_chat
    return chat.id if chat is not None and chat.type == ChatType.PRIVATE else None


JSONMethod = dict[str, Any]


class WebhookReplies:
    """One Bot API method may ride back on the answer to a webhook POST, and Telegram carries
    it out: a call the bot does not make. The answer to a pressed button goes this way (its
    spinner stops as the answer reaches Telegram, with the new screen already shown).

    The webhook server opens a slot per update before handling it and takes what was offered
    once it is done; outside the webhook (polling) nothing is open and nothing is offered.
    """

    def __init__(self) -> None:
        self._slots: dict[int, JSONMethod | None] = {}

    def open(self, update_id: int) -> bool:
        """Open the update's slot; False if a copy of it being handled already has it open
        (only the opener takes what is offered)."""
        if update_id in self._slots:
            return False
        self._slots[update_id] = None
        return True

    def offer(self, update_id: int, method: str, **parameters: object) -> bool:
        """Whether the method will ride on this update's answer (else: make the call)."""
        if update_id not in self._slots or self._slots[update_id] is not None:
            return False
        self._slots[update_id] = {"method": method, **parameters}
        return True

    def take(self, update_id: int) -> JSONMethod | None:
        return self._slots.pop(update_id, None)
