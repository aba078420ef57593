"""Polling without losing updates to a crash, and without handling one twice.

Telegram counts an update as delivered once the next getUpdates asks past it, and PTB asks
again while earlier updates are still being handled. So each batch is written to storage as
it arrives, before that next call can happen; after a crash, whatever was received but not
done is handled first.

Polling has one consumer per bot (Telegram refuses a second getUpdates), so which updates to
handle is decided here, in memory, from that one write: an update seen for the first time is
handled; a copy (a batch fetched again, or a replayed update Telegram sends once more) is not.
Updates are marked done in batches, a moment after they finish: a crash in that moment means a
few updates are handled again after the restart, which the journey absorbs (signing is
idempotent, a repeated button press shows the current screen).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import orjson
from telegram import Update
from telegram.ext import Application

from bot.incoming import trim_update
from bot.request import AiohttpRequest
from storage.base import Storage

log = logging.getLogger(__name__)

REPLAY_WINDOW = timedelta(minutes=10)
DONE_DELAY = 0.05  # seconds: done marks written together, one statement per batch
MAX_REMEMBERED_COPIES = 10_000


class DoneMarks:
    """Updates marked done in batches, a moment after they finish: one statement for all
    the updates finished meanwhile, instead of a database trip each."""

    def __init__(self, storage: Storage, bot_id: int, clock: Callable[[], datetime]) -> None:
        self.storage = storage
        self.bot_id = bot_id
        self.clock = clock
        self._done: list[int] = []
        self._flushing: asyncio.Task[None] | None = None

    def add(self, update_id: int) -> None:
        self._done.append(update_id)
        if self._flushing is None:
            self._flushing = asyncio.create_task(self._flush_soon(), name="done-marks")

    async def _flush_soon(self) -> None:
        try:
            await asyncio.sleep(DONE_DELAY)
        finally:
            self._flushing = None
        await self._write()

    async def _write(self) -> None:
        update_ids, self._done = self._done, []
        if not update_ids:
            return
        try:
            await self.storage.finish_updates(self.bot_id, update_ids, now=self.clock())
        except Exception as error:  # the database is away: keep them for the next batch
            log.warning("could not mark %d updates done (%r); will retry", len(update_ids), error)
            self._done[:0] = update_ids

    async def close(self) -> None:
        """Write the marks still waiting (at shutdown, before storage closes)."""
        if self._flushing is not None:
            self._flushing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flushing
        await self._write()


class Inbox:
    def __init__(self, storage: Storage, bot_id: int, clock: Callable[[], datetime]) -> None:
        self.storage = storage
        self.bot_id = bot_id
        self.clock = clock
        # Copies of updates already received; insertion-ordered so the oldest can be dropped
        # (a copy the rate limit stopped never reaches `take`).
        self._copies: dict[int, None] = {}
        self._done = DoneMarks(storage, bot_id, clock)

    async def receive(self, updates: list[dict[str, Any]]) -> None:
        """Store a fetched batch before Telegram is told it arrived; note which are copies."""
        stored = [(update["update_id"], _as_json(update)) for update in updates]
        fresh = set(await self.storage.receive_updates(self.bot_id, stored, now=self.clock()))
        for update_id, _ in stored:
            if update_id not in fresh:
                self._copies[update_id] = None
        while len(self._copies) > MAX_REMEMBERED_COPIES:
            del self._copies[next(iter(self._copies))]

    def take(self, update_id: int) -> bool:
        """Whether to handle this update: False for a copy of one received before."""
        try:
            del self._copies[update_id]
        except KeyError:
            return True
        return False

    def finish(self, update_id: int) -> None:
        """Mark the update done (written a moment later, with the others finished by then)."""
        self._done.add(update_id)

    async def close(self) -> None:
        """Write the done marks still waiting (at shutdown, before storage closes)."""
        await self._done.close()

    async def replay_unfinished(self, application: Application) -> int:
        """Queue the updates a previous run received but did not finish, oldest first.

        Only recent ones: an answer to a message from long ago would confuse more than help, and
        updates the rate limit dropped should not come back much later.
        """
        payloads = await self.storage.unfinished_updates(self.bot_id, self.clock() - REPLAY_WINDOW)
        for payload in payloads:
            update = Update.de_json(orjson.loads(payload), application.bot)
            if update is not None:
                await application.update_queue.put(update)
        return len(payloads)


class InboxRequest(AiohttpRequest):
    """The getUpdates request: hands each fetched batch to the inbox before PTB sees it."""

    def __init__(self, inbox: Inbox, **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self.inbox = inbox

    async def do_request(
        self, url: str, method: str, *args: object, **kwargs: object
    ) -> tuple[int, bytes]:
        status, content = await super().do_request(url, method, *args, **kwargs)  # type: ignore[arg-type]
        if status == 200 and url.endswith("/getUpdates"):
            answer = self.parse_json_payload(content)
            updates = answer.get("result") or []
            if updates:
                for update in updates:
                    trim_update(update)
                # If this fails, PTB retries the same getUpdates: nothing was confirmed yet.
                await self.inbox.receive(updates)
                content = orjson.dumps(answer)  # PTB parses what is left of it
        return status, content


def _as_json(update: dict[str, Any]) -> str:
    """The update as JSON text, whatever it holds: orjson refuses what Python's json writes
    (integers beyond 64 bits, text orjson cannot encode), and one update that cannot be
    stored must not stop the polling of every update behind it."""
    try:
        return orjson.dumps(update).decode()
    except (TypeError, orjson.JSONEncodeError):
        log.warning("update %s stored through the slow JSON path", update.get("update_id"))
        return json.dumps(update, default=str)
