"""A per-supporter rate limit that costs nothing when it bites: no database, one polite word.

Each supporter has a token bucket (a burst, refilled at a steady rate). An update beyond it is
dropped before it is claimed or read from storage; the first dropped update of a streak gets a
short translated answer, the rest silence. Buckets live in memory (per instance), least
recently seen first out, so a million passing supporters cannot grow it without bound.
"""

from __future__ import annotations

import contextlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from telegram import Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationHandlerStop, TypeHandler

from bot.context import Context
from bot.features.once import finish_in_inbox
from bot.i18n import translator

THROTTLE_GROUP = -3
MAX_TRACKED_USERS = 100_000


class Verdict(Enum):
    ALLOW = "allow"
    WARN = "warn"  # the first update over the limit: say so once
    DROP = "drop"


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float
    warned: bool = False


class Throttle:
    def __init__(
        self,
        *,
        per_second: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_users: int = MAX_TRACKED_USERS,
    ) -> None:
        self.per_second = per_second
        self.burst = burst
        self.clock = clock
        self.max_users = max_users
        self._buckets: OrderedDict[int, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def check(self, user_id: int) -> Verdict:
        now = self.clock()
        bucket = self._buckets.pop(user_id, None) or _Bucket(float(self.burst), now)
        self._buckets[user_id] = bucket  # most recently seen last
        if len(self._buckets) > self.max_users:
            self._buckets.popitem(last=False)
        bucket.tokens = min(
            float(self.burst), bucket.tokens + (now - bucket.updated) * self.per_second
        )
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            bucket.warned = False
            return Verdict.ALLOW
        if bucket.warned:
            return Verdict.DROP
        bucket.warned = True
        return Verdict.WARN


async def throttle_updates(update: Update, context: Context) -> None:
    user = update.effective_user
    if user is None:
        return
    throttle = context.bot_data.throttle
    if throttle is None:
        return
    verdict = throttle.check(user.id)
    if verdict is Verdict.ALLOW:
        return
    query = update.callback_query
    text = None
    if verdict is Verdict.WARN:
        t = translator(context.bot_data.quick_language(user))
        text = t.gettext("You are going a little fast. Please wait a few seconds, then go on.")
    with contextlib.suppress(TelegramError):
        if query is not None:
            await query.answer(text)  # also stops the button's spinner
        elif text and update.effective_chat and update.effective_chat.type == ChatType.PRIVATE:
            await context.bot.send_message(update.effective_chat.id, text)
    if context.bot_data.inbox is not None:
        # Dropped is done: a restart must not replay the flood (batched with other marks).
        await finish_in_inbox(update, context)
    raise ApplicationHandlerStop


def register(application: Application, *, per_second: float, burst: int) -> None:
    """`per_second` 0 turns the limit off."""
    if per_second <= 0:
        return
    application.bot_data.throttle = Throttle(per_second=per_second, burst=burst)
    application.add_handler(TypeHandler(Update, throttle_updates), group=THROTTLE_GROUP)
