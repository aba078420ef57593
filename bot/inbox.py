"""Polling without losing updates to a crash.

Telegram counts an update as delivered once the next getUpdates asks past it, and PTB asks
again while earlier updates are still being handled. So each batch is written to storage as
it arrives, before that next call can happen; after a crash, whatever was received but not
done is handled first. Claims (bot.features.once) make sure nothing is handled twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta

from telegram import Update
from telegram.ext import Application

from bot.request import AiohttpRequest
from storage.base import Storage

REPLAY_WINDOW = timedelta(minutes=10)


class InboxRequest(AiohttpRequest):
    """The getUpdates request: stores each fetched batch before handing it to PTB."""

    def __init__(
        self, storage: Storage, bot_id: int, clock: Callable[[], datetime], **options: object
    ) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self.storage = storage
        self.bot_id = bot_id
        self.clock = clock

    async def do_request(
        self, url: str, method: str, *args: object, **kwargs: object
    ) -> tuple[int, bytes]:
        status, content = await super().do_request(url, method, *args, **kwargs)  # type: ignore[arg-type]
        if status == 200 and url.endswith("/getUpdates"):
            updates = json.loads(content).get("result") or []
            if updates:
                # If this fails, PTB retries the same getUpdates: nothing was confirmed yet.
                await self.storage.receive_updates(
                    self.bot_id,
                    [(update["update_id"], json.dumps(update)) for update in updates],
                    now=self.clock(),
                )
        return status, content


async def replay_unfinished(application: Application, storage: Storage, now: datetime) -> int:
    """Queue the updates a previous run received but did not finish, oldest first.

    Only recent ones: an answer to a message from long ago would confuse more than help, and
    updates the rate limit dropped (never claimed) should not come back much later.
    """
    payloads = await storage.unfinished_updates(application.bot.id, now - REPLAY_WINDOW)
    for payload in payloads:
        update = Update.de_json(json.loads(payload), application.bot)
        if update is not None:
            await application.update_queue.put(update)
    return len(payloads)
