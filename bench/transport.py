"""A Bot API transport that answers at once, in-process: no socket, no server, no latency.

For the benchmarks that measure the bot's own CPU per update (the framework floor, the memory
growth at many supporters): any time spent here would be the fake's, not the bot's, so it
answers each method with the smallest valid JSON PTB will parse, and remembers only the last
keyboard per chat (the driver presses buttons by label, like a person).
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from telegram.request import BaseRequest, RequestData

from bot.ptb_seam import ODVInput

BOT_ID = 123456
TOKEN = f"{BOT_ID}:BENCH-TOKEN"
BOT_USER = {
    "id": BOT_ID,
    "is_bot": True,
    "first_name": "Bench Bot",
    "username": "petition_bench_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": True,
}

_TRUE = b'{"ok":true,"result":true}'
_STATIC: dict[str, bytes] = {
    "getMe": json.dumps({"ok": True, "result": BOT_USER}).encode(),
    "getMyDescription": b'{"ok":true,"result":{"description":""}}',
    "getMyShortDescription": b'{"ok":true,"result":{"short_description":""}}',
    "getMyCommands": b'{"ok":true,"result":[]}',
    "getChatMenuButton": b'{"ok":true,"result":{"type":"default"}}',
    "getUpdates": b'{"ok":true,"result":[]}',
}


class InstantTransport(BaseRequest):
    """PTB's request seam, answered from memory.

    `keyboards[chat_id]` holds the inline keyboard of the last message sent or edited there,
    and `replies` counts visible replies (send/edit), so a driver can wait for them.
    """

    def __init__(self, *, remember_keyboards: bool = True) -> None:
        self.remember_keyboards = remember_keyboards
        self.keyboards: dict[int, list[list[dict[str, Any]]]] = {}
        self.texts: dict[int, str] = {}
        self.replies = 0
        self.calls = 0
        self._message_ids = itertools.count(1_000)

    @property
    def read_timeout(self) -> float | None:
        return 5.0

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        self.calls += 1
        name = url.rsplit("/", 1)[-1]
        static = _STATIC.get(name)
        if static is not None:
            return 200, static
        if name not in ("sendMessage", "editMessageText"):
            return 200, _TRUE
        params = request_data.parameters if request_data else {}
        chat_id = int(params["chat_id"])
        self.replies += 1
        markup = params.get("reply_markup")
        if isinstance(markup, str):
            markup = json.loads(markup)
        if self.remember_keyboards:
            self.texts[chat_id] = str(params.get("text", ""))
            self.keyboards[chat_id] = markup.get("inline_keyboard", []) if markup else []
        message: dict[str, Any] = {
            "message_id": params.get("message_id") or next(self._message_ids),
            "date": 0,
            "chat": {"id": chat_id, "type": "private", "first_name": "Bench"},
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "Bench Bot"},
            "text": "·",  # PTB does not need the text back; parsing it would be our cost
        }
        if markup:
            message["reply_markup"] = markup
        return 200, json.dumps({"ok": True, "result": message}).encode()

    def button_data(self, chat_id: int, label: str) -> str:
        """The callback data of the button whose text contains `label` (case-insensitive)."""
        wanted = label.casefold()
        for row in self.keyboards.get(chat_id, []):
            for button in row:
                if wanted in str(button.get("text", "")).casefold() and button.get("callback_data"):
                    return str(button["callback_data"])
        raise LookupError(f"no button {label!r} in chat {chat_id}: {self.keyboards.get(chat_id)}")


def message_update(update_id: int, user_id: int, text: str, message_id: int) -> dict[str, Any]:
    """A private text message from a supporter, as Telegram sends it."""
    user = {"id": user_id, "is_bot": False, "first_name": f"Bench {user_id}", "language_code": "en"}
    message: dict[str, Any] = {
        "message_id": message_id,
        "date": 0,
        "chat": {"id": user_id, "type": "private", "first_name": user["first_name"]},
        "from": user,
        "text": text,
    }
    if text.startswith("/"):
        length = len(text.split(" ", 1)[0])
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
    return {"update_id": update_id, "message": message}


def press_update(update_id: int, user_id: int, data: str, message_id: int) -> dict[str, Any]:
    """A supporter pressing an inline button on the bot's message `message_id`."""
    user = {"id": user_id, "is_bot": False, "first_name": f"Bench {user_id}", "language_code": "en"}
    return {
        "update_id": update_id,
        "callback_query": {
            "id": str(4_000_000_000_000 + update_id),
            "from": user,
            "chat_instance": str(7_000_000 + user_id),
            "data": data,
            "message": {
                "message_id": message_id,
                "date": 0,
                "chat": {"id": user_id, "type": "private", "first_name": user["first_name"]},
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "Bench Bot"},
                "text": "·",
            },
        },
    }
