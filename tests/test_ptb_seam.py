"""The private PTB pieces bot.ptb_seam relies on are still there (a PTB upgrade trips here)."""

from __future__ import annotations

import inspect

from telegram import Bot
from telegram.ext import ExtBot
from telegram.request import BaseRequest

from bot import ptb_seam
from tests.fakes import FakeBotAPI


def test_the_private_methods_the_seam_calls_exist_with_the_arguments_it_passes() -> None:
    assert "api_kwargs" in inspect.signature(Bot._post).parameters
    assert list(inspect.signature(ExtBot._merge_api_rl_kwargs).parameters) == [
        "api_kwargs",
        "rate_limit_args",
    ]
    assert ptb_seam.DEFAULT_NONE is not None and ptb_seam.JSONDict is not None


async def test_a_call_without_parsing_returns_telegrams_answer_as_data(
    server: FakeBotAPI,
) -> None:
    server.register_chat({"id": 5, "type": "private", "first_name": "Ann"})
    async with Bot(server.token, base_url=f"{server.url}/bot") as bot:
        result = await ptb_seam.post_without_parsing(
            bot, "sendMessage", {"chat_id": 5, "text": "hi"}
        )
    assert isinstance(result, dict) and result["text"] == "hi"


async def test_requests_can_be_swapped(server: FakeBotAPI) -> None:
    calls: list[str] = []

    class Recording(BaseRequest):
        async def initialize(self) -> None:
            pass

        async def shutdown(self) -> None:
            pass

        @property
        def read_timeout(self) -> float | None:
            return None

        async def do_request(self, url: str, method: str, *_: object, **__: object):  # type: ignore[no-untyped-def]
            calls.append(url.rsplit("/", 1)[-1])
            return 200, b'{"ok": true, "result": true}'

    bot = Bot(server.token, base_url=f"{server.url}/bot")
    ptb_seam.swap_requests(bot, Recording())
    await ptb_seam.post_without_parsing(bot, "deleteMessage", {"chat_id": 1, "message_id": 2})
    assert calls == ["deleteMessage"]
