"""What the bot reads of an incoming update, cut down before PTB parses it.

A pressed button's update carries the whole message the button sits on: its text, entities
and keyboard. PTB parses it into a `Message`, an object of about a hundred attributes, on every
press: a fifth of the bot's CPU in profiles, for something nothing here reads. The handlers
need the message's chat and id, and whether it can still be edited. So the message is cut
down to the shape of Telegram's "inaccessible message" (chat, id, date 0), which PTB parses
into its small `InaccessibleMessage`, and whether the original could be edited (Telegram
sends date 0 for messages too old to show) travels beside it, in the query.
"""

from __future__ import annotations

from typing import Any

from telegram import CallbackQuery, Message

# Unknown fields of an update end up in PTB's `api_kwargs` of the object that carries them.
EDITABLE_FIELD = "petition_bot_message_editable"


def trim_update(update: Any) -> Any:
    """The update with a callback query's message cut down to what the bot reads (in place).
    Anything that is not an update object is returned as it is, for the caller to refuse."""
    if not isinstance(update, dict):
        return update
    query = update.get("callback_query")
    if isinstance(query, dict):
        message = query.get("message")
        if isinstance(message, dict) and "chat" in message and "message_id" in message:
            query[EDITABLE_FIELD] = bool(message.get("date"))
            query["message"] = {
                "chat": message["chat"],
                "message_id": message["message_id"],
                "date": 0,
            }
    return update


def message_is_editable(query: CallbackQuery) -> bool:
    """Whether the message the button sits on can be edited (is not too old or gone)."""
    editable = query.api_kwargs.get(EDITABLE_FIELD)
    if editable is None:  # an update that was not cut down
        return isinstance(query.message, Message)
    return bool(editable)


WEBHOOK_REPLIES_KEY = "webhook_replies"
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

    def open(self, update_id: int) -> None:
        self._slots[update_id] = None

    def offer(self, update_id: int, method: str, **parameters: object) -> bool:
        """Whether the method will ride on this update's answer (else: make the call)."""
        if update_id not in self._slots or self._slots[update_id] is not None:
            return False
        self._slots[update_id] = {"method": method, **parameters}
        return True

    def take(self, update_id: int) -> JSONMethod | None:
        return self._slots.pop(update_id, None)
