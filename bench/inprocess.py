"""The real bot application fed prebuilt updates in-process, with an instant Bot API transport.

What is left is the bot's own work per update - PTB's dispatch, our handlers, the flow, the
screens, storage - with no network and no fake server sharing the CPU. The framework floor and
the memory benchmark both drive the bot this way.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from telegram import Update
from telegram.ext import Application, ContextTypes, TypeHandler

from bench.transport import TOKEN, InstantTransport, message_update, press_update
from bot.app import build_application, start_application, stop_application
from bot.inbox import Inbox
from bot.petition import Petition
from bot.ptb_seam import swap_requests
from bot.settings import Settings
from storage import open_storage

# The journey a supporter walks: /start, then these buttons (matched by label, like a person).
STEPS = ("Sign the petition", "Canada", "or older", "I agree", "Use this name", "Sign now")
DONE_TEXT = "You are signer #"
BENCH_MESSAGE_ID = 1_000  # the message the buttons sit on; the flow keys on the step, not this


def bench_settings(database_url: str, **overrides: Any) -> Settings:
    """Production defaults."""
    values: dict[str, Any] = {
        "telegram_bot_token": TOKEN,
        "telegram_api_url": "http://127.0.0.1:9",  # never contacted: the transport answers
        "database_url": database_url,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


GET_UPDATES_LIMIT = 100  # the most updates one getUpdates call returns


async def receive_in_inbox(application: Application, raw_updates: Sequence[dict[str, Any]]) -> None:
    """What polling does with each fetched batch before handing it over (ours only)."""
    inbox: Inbox | None = getattr(application.bot_data, "inbox", None)
    if inbox is None:
        return
    for start in range(0, len(raw_updates), GET_UPDATES_LIMIT):
        await inbox.receive(list(raw_updates[start : start + GET_UPDATES_LIMIT]))


class InProcessBot:
    """Our application on an `InstantTransport`, started without an updater (no polling).

    `tune_gc` as in production; off by default, as the driver shares the process (and the
    floor comparison runs PTB alone in the same process).
    """

    def __init__(
        self, database_url: str, petition: Petition, *, tune_gc: bool = False, **settings: Any
    ) -> None:
        os.environ.setdefault("PTB_TIMEDELTA", "true")
        self.tune_gc = tune_gc
        self.transport = InstantTransport()
        self.settings = bench_settings(database_url, **settings)
        self.petition = petition
        self.application: Application | None = None
        self._next_update_id = 1

    async def __aenter__(self) -> InProcessBot:
        storage = open_storage(self.settings.database_url)
        application = build_application(self.settings, storage, self.petition, tune_gc=self.tune_gc)
        # The bench's seam: swap the HTTP request objects for the in-memory transport before
        # initialize() opens them (the AiohttpRequest instances are then never used).
        swap_requests(application.bot, self.transport)
        count_processed(application)
        self.application = application
        await start_application(application, polling_timeout=None)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        application = self.application
        if application is None:
            return
        await stop_application(application)
        self.application = None

    def new_update_id(self) -> int:
        update_id = self._next_update_id
        self._next_update_id += 1
        return update_id

    async def feed(self, raw_updates: Sequence[dict[str, Any]]) -> None:
        """Queue updates and wait until every one of them has been processed."""
        application = self.application
        assert application is not None
        target = processed(application) + len(raw_updates)
        await receive_in_inbox(application, raw_updates)
        for raw in raw_updates:
            await application.update_queue.put(Update.de_json(raw, application.bot))
        await wait_processed(application, target)

    async def capture_journey(self, user_id: int) -> list[str]:
        """Walk one journey step by step; return the callback data each press sent.

        The data are the same for every supporter, so the other supporters' updates can be
        built beforehand, outside the measured time.
        """
        await self.feed([message_update(self.new_update_id(), user_id, "/start", 1)])
        pressed = []
        for label in STEPS:
            data = self.transport.button_data(user_id, label)
            pressed.append(data)
            await self.feed([press_update(self.new_update_id(), user_id, data, BENCH_MESSAGE_ID)])
        if DONE_TEXT not in self.transport.texts.get(user_id, ""):
            raise RuntimeError(f"journey did not finish: {self.transport.texts.get(user_id)!r}")
        return pressed

    def journeys(self, user_ids: Sequence[int], pressed: Sequence[str]) -> list[dict[str, Any]]:
        """Every supporter's whole journey, step by step across supporters (as they arrive)."""
        updates = [
            message_update(self.new_update_id(), user_id, "/start", 1) for user_id in user_ids
        ]
        for data in pressed:
            updates += [
                press_update(self.new_update_id(), user_id, data, BENCH_MESSAGE_ID)
                for user_id in user_ids
            ]
        return updates


COUNTER_GROUP = 10_000  # after every handler group of ours (the last is 100)


@dataclass
class _Progress:
    processed: int = 0
    target: int = 0
    reached: asyncio.Event = field(default_factory=asyncio.Event)


# By application (ours keeps typed services in bot_data, PTB's floors a dict): by id, as
# PTB's Application takes no attributes of ours.
_PROGRESS: dict[int, _Progress] = {}


def count_processed(application: Application) -> None:
    """Count updates that went through every handler group: how the driver knows it is done.

    Costs one trivial handler per update, in the floors as in ours.
    """
    progress = _PROGRESS[id(application)] = _Progress()

    async def counted(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        progress.processed += 1
        if progress.processed >= progress.target:
            progress.reached.set()

    application.add_handler(TypeHandler(object, counted), group=COUNTER_GROUP)


def processed(application: Application) -> int:
    return _PROGRESS[id(application)].processed


async def wait_processed(application: Application, target: int, limit: float = 600) -> None:
    """Until `target` updates have been processed in all (or `limit` seconds passed)."""
    progress = _PROGRESS[id(application)]
    progress.target, progress.reached = target, asyncio.Event()
    if progress.processed >= target:
        return
    async with asyncio.timeout(limit):
        await progress.reached.wait()
