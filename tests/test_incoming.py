"""Incoming updates cut down before PTB parses them: a pressed button's message becomes the
four facts the bot reads of it, and what rides back on a webhook's answer."""

from __future__ import annotations

import copy
from typing import Any

from telegram import Update

from bot.incoming import (
    PressedMessage,
    WebhookReplies,
    pressed_message,
    private_chat_of,
    trim_update,
)

BUTTON_PRESS: dict[str, Any] = {
    "update_id": 7,
    "callback_query": {
        "id": "q1",
        "from": {"id": 42, "is_bot": False, "first_name": "Ada"},
        "chat_instance": "ci",
        "data": "intro:sign",
        "message": {
            "message_id": 99,
            "date": 1_700_000_000,
            "chat": {"id": 42, "type": "private", "first_name": "Ada"},
            "from": {"id": 1, "is_bot": True, "first_name": "Bot"},
            "text": "Welcome " * 200,
            "entities": [{"type": "bold", "offset": 0, "length": 7}],
            "reply_markup": {"inline_keyboard": [[{"text": "Sign", "callback_data": "x"}]]},
        },
    },
}


def parsed(raw: dict[str, Any]) -> Update:
    update = Update.de_json(trim_update(copy.deepcopy(raw)), None)
    assert update is not None
    return update


def test_a_pressed_buttons_message_becomes_what_the_bot_reads_of_it() -> None:
    update = parsed(BUTTON_PRESS)
    query = update.callback_query
    assert query is not None and query.message is None  # PTB built no Message at all
    assert pressed_message(query) == PressedMessage(42, "private", 99, editable=True)
    assert private_chat_of(update) == 42
    assert query.data == "intro:sign" and query.from_user.id == 42


def test_a_message_too_old_to_show_is_not_editable() -> None:
    raw = copy.deepcopy(BUTTON_PRESS)
    raw["callback_query"]["message"] = {
        "message_id": 99,
        "date": 0,
        "chat": {"id": 42, "type": "private"},
    }
    pressed = pressed_message(parsed(raw).callback_query)  # type: ignore[arg-type]
    assert pressed is not None and not pressed.editable


def test_updates_that_were_not_cut_down_read_the_same() -> None:
    update = Update.de_json(copy.deepcopy(BUTTON_PRESS), None)
    assert update is not None and update.callback_query is not None
    assert pressed_message(update.callback_query) == PressedMessage(42, "private", 99, True)


def test_buttons_in_groups_and_on_inline_messages() -> None:
    raw = copy.deepcopy(BUTTON_PRESS)
    raw["callback_query"]["message"]["chat"] = {"id": -5, "type": "group", "title": "G"}
    update = parsed(raw)
    assert private_chat_of(update) is None
    inline = copy.deepcopy(BUTTON_PRESS)
    del inline["callback_query"]["message"]
    inline["callback_query"]["inline_message_id"] = "im"
    query = parsed(inline).callback_query
    assert query is not None and pressed_message(query) is None


def test_anything_but_an_update_object_is_left_for_the_caller_to_refuse() -> None:
    for odd in ([], None, "x", 3, {"callback_query": "x"}, {"callback_query": {"message": 1}}):
        assert trim_update(copy.deepcopy(odd)) == odd


def test_one_method_may_ride_on_a_webhook_answer() -> None:
    replies = WebhookReplies()
    assert not replies.offer(1, "answerCallbackQuery", callback_query_id="q")  # not expected
    assert replies.open(1)
    assert not replies.open(1)  # a copy arriving meanwhile does not take the slot over
    assert replies.offer(1, "answerCallbackQuery", callback_query_id="q")
    assert not replies.offer(1, "answerCallbackQuery", callback_query_id="other")  # taken
    assert replies.take(1) == {"method": "answerCallbackQuery", "callback_query_id": "q"}
    assert replies.take(1) is None
