"""Runs the real bot application against the fake Bot API, in the test's event loop.

Mirrors what `Application.run_polling` (used by run_bot.py) does, minus the signal handling
and the event loop it owns: initialize → post_init → start polling → start, and the reverse.
"""

from __future__ import annotations

from typing import Any

from telegram.ext import Application

from bot.app import build_application, start_application, stop_application
from bot.clock import Clock
from bot.petition import Petition
from bot.petitions import Catalog
from bot.settings import Settings
from bot.webhook import WebhookServer
from storage import open_storage
from storage.base import Storage
from tests.clock import NOW, running_from
from tests.fakes import FakeBotAPI


def settings_for(server: FakeBotAPI, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "telegram_bot_token": server.token,
        "telegram_api_url": server.url,
        "database_url": database_url,
        # Tests click faster than people: the per-supporter throttle and the per-chat pacing
        # of replies are off here, and tested on their own (test_throttle, test_ratelimit*).
        "user_rate_limit": 0,
        "chat_rate_limit": 0,
        "polling_timeout": 5,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


class BotInstance:
    """One running bot process, as far as the bot can tell. Its clock starts at the tests' fixed
    day (tests.clock.NOW) unless a test gives it another."""

    def __init__(
        self,
        server: FakeBotAPI,
        database_url: str,
        petition: Petition | Catalog,
        *,
        clock: Clock | None = None,
        **settings: Any,
    ) -> None:
        self.settings = settings_for(server, database_url, **settings)
        self.petition = petition
        self.clock = clock or running_from(NOW)
        self.application: Application | None = None

    @property
    def storage(self) -> Storage:
        assert self.application is not None
        return self.application.bot_data.storage

    async def start(self) -> BotInstance:
        storage = open_storage(self.settings.database_url)
        application = build_application(
            self.settings, storage, self.petition, clock=self.clock, tune_gc=False
        )
        self.application = application
        await start_application(application, polling_timeout=self.settings.polling_timeout)
        return self

    async def stop(self) -> None:
        application = self.application
        if application is None:
            return
        await stop_application(application)
        self.application = None

    async def __aenter__(self) -> BotInstance:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


class WebhookBotInstance:
    """One bot instance in webhook mode, listening on 127.0.0.1 on a port the OS picks.

    Telegram (the fake) is told a public URL that does not resolve; tests put the instances'
    real URLs in `server.webhook_targets`, the way a load balancer would sit in front of them.
    """

    PATH = "/telegram"
    SECRET = "test-webhook-secret_1"

    def __init__(
        self,
        server: FakeBotAPI,
        database_url: str,
        petition: Petition | Catalog,
        *,
        clock: Clock | None = None,
        **settings: Any,
    ) -> None:
        values = {
            "webhook_url": f"https://petition-bot.invalid{self.PATH}",
            "webhook_secret": self.SECRET,
            "webhook_listen": "127.0.0.1",
            "webhook_port": 0,
            **settings,
        }
        self.settings = settings_for(server, database_url, **values)
        self.petition = petition
        self.clock = clock or running_from(NOW)
        self.webhook: WebhookServer | None = None

    @property
    def url(self) -> str:
        assert self.webhook is not None and self.webhook.port is not None
        return f"http://127.0.0.1:{self.webhook.port}{self.PATH}"

    @property
    def storage(self) -> Storage:
        assert self.webhook is not None
        return self.webhook.application.bot_data.storage

    async def start(self) -> WebhookBotInstance:
        storage = open_storage(self.settings.database_url)
        application = build_application(
            self.settings, storage, self.petition, clock=self.clock, tune_gc=False
        )
        self.webhook = WebhookServer(application, self.settings)
        await self.webhook.start()
        return self

    async def stop(self) -> None:
        if self.webhook is not None:
            await self.webhook.stop()
            self.webhook = None

    async def __aenter__(self) -> WebhookBotInstance:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


def raw_message(user_id: int, text: str, *, chat: dict[str, Any] | None = None) -> dict[str, Any]:
    """A `message` update body as Telegram sends it (commands carry a bot_command entity)."""
    message: dict[str, Any] = {
        "message_id": 90_000 + user_id % 1000,
        "date": 0,
        "text": text,
        "chat": chat or {"id": user_id, "type": "private", "first_name": "Someone"},
        "from": {"id": user_id, "is_bot": False, "first_name": "Someone"},
    }
    if text.startswith("/"):
        length = len(text.split(" ", 1)[0])
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
    return {"message": message}


STICKER: dict[str, Any] = {
    "sticker": {
        "file_id": "s1",
        "file_unique_id": "u1",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
    }
}


def raw_sticker(user_id: int) -> dict[str, Any]:
    """A sticker from this user in their private chat: a message with no text."""
    message = raw_message(user_id, "")["message"]
    del message["text"]
    return {"message": {**message, **STICKER}}
