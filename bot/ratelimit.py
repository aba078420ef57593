"""Outgoing Bot API calls paced the way Telegram limits them: per chat, never globally.

What Telegram limits (README, "Speed and Telegram's limits", has the sources):

- in one chat, about one message a second, short bursts allowed; sends and edits share it;
- in one group, at most 20 messages a minute;
- bulk notifications to many users, about 30 a second (the broadcast sender keeps to
  BROADCAST_RATE itself);
- no global limit on answering users, and none at all on `answerCallbackQuery`.

So each chat has its own schedule (`ChatSchedules`, a pure core: plain numbers in, plain
numbers out) and nothing waits for another chat. A 429 pauses the chat it names for the
`retry_after` Telegram asks, and only that chat. A 429 on a call that names no chat, or on a
broadcast, silences the broadcast sender (`BroadcastGate`), never the supporters.

A supporter's screen (`SCREEN`) never waits in line longer than a moment: if their chat is
paused for longer, `ChatPaused` is raised instead, and the caller parks the delivery here
(`ChatPaused.park`). When the pause ends, only the latest parked screen of that chat is shown:
the supporter sees where they are now, not a backlog of stale edits. A newer screen for the
chat makes a parked one obsolete.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import TYPE_CHECKING, Any

from telegram.error import RetryAfter

if TYPE_CHECKING:
    from bot.metrics import Metrics
from telegram.ext import BaseRateLimiter
from telegram.warnings import PTBDeprecationWarning

from bot.ptb_seam import JSONDict

log = logging.getLogger(__name__)


class CallKind(Enum):
    """What a call is for, passed as PTB's `rate_limit_args`; unmarked calls are ordinary."""

    SCREEN = "screen"  # a supporter's journey screen: replaceable by a newer one
    BROADCAST = "broadcast"  # bulk: paced by the broadcast sender, never per chat


# Methods Telegram answers without any limit, or whose answer is useless late: never delayed,
# and a 429 on them is raised at once.
NEVER_WAIT = frozenset({"answerCallbackQuery", "answerInlineQuery"})
# Methods that put or change a message in a chat: these share the chat's limit.
_CHAT_WRITE_PREFIXES = ("send", "edit", "copy", "forward", "stopPoll")
_NOT_A_MESSAGE = frozenset({"sendChatAction"})

GROUP_WINDOW_SECONDS = 60.0
MAX_SCREEN_WAIT_SECONDS = 2.0  # longer than this, a supporter's screen is parked
MAX_RETRIES = 3  # 429s waited out per ordinary call before the error is raised
SWEEP_EVERY_CALLS = 4096  # how often schedules of idle chats are forgotten


def retry_seconds(error: RetryAfter) -> float:
    """A 429's `retry_after` in seconds (an int or a timedelta, by PTB_TIMEDELTA)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def paced_chat(endpoint: str, data: JSONDict) -> int | str | None:
    """The chat whose limit this call counts against; None for calls no chat limit covers."""
    if endpoint in _NOT_A_MESSAGE or not endpoint.startswith(_CHAT_WRITE_PREFIXES):
        return None
    chat_id = data.get("chat_id")
    return chat_id if isinstance(chat_id, int | str) else None


def is_group(chat_id: int | str) -> bool:
    """Groups, supergroups and channels have negative ids (or an @username); users positive."""
    return isinstance(chat_id, str) or chat_id < 0


@dataclass(frozen=True, slots=True)
class Limits:
    chat_rate: float = 1.0  # messages a second in one private chat, sustained (0: no pacing)
    chat_burst: int = 8  # messages at once above that: a whole journey's screens
    group_per_minute: int = 20
    global_rate: float = 0.0  # all calls of the bot, a second (0: off, the default)
    max_screen_wait: float = MAX_SCREEN_WAIT_SECONDS


@dataclass(slots=True)
class _Chat:
    # Generic cell rate algorithm: the time the chat's next message is "due"; a message may
    # go up to (burst - 1) intervals before it.
    due: float = 0.0
    paused_until: float = 0.0
    group_sends: deque[float] | None = None


class ChatSchedules:
    """When each chat may be written to next: the pure core of the limiter (no clock, no I/O).

    Times are seconds on any monotonic clock. `reserve` books a slot and says when it is;
    `pause` records a 429. Chats with nothing pending are forgotten by `sweep`, so memory
    follows the chats active in the last seconds, not every chat ever seen.
    """

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._interval = 1.0 / limits.chat_rate if limits.chat_rate > 0 else 0.0
        self._tolerance = self._interval * (limits.chat_burst - 1)
        self._chats: dict[int | str, _Chat] = {}

    def __len__(self) -> int:
        return len(self._chats)

    def earliest(self, chat_id: int | str, now: float) -> float:
        """When a message to this chat could go, without booking it."""
        chat = self._chats.get(chat_id)
        if chat is None:
            return now
        return max(now, chat.paused_until, self._pacing_start(chat_id, chat, now))

    def reserve(self, chat_id: int | str, now: float) -> float:
        """Book the chat's next slot; the time it is at (`now` when no wait is needed)."""
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = self._chats[chat_id] = _Chat()
        at = max(now, chat.paused_until, self._pacing_start(chat_id, chat, now))
        if is_group(chat_id):
            if chat.group_sends is None:
                chat.group_sends = deque(maxlen=max(1, self.limits.group_per_minute))
            chat.group_sends.append(at)
        else:
            chat.due = max(chat.due, at) + self._interval
        return at

    def pause(self, chat_id: int | str, until: float) -> None:
        """Telegram asked for silence in this chat until then (a 429)."""
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = self._chats[chat_id] = _Chat()
        chat.paused_until = max(chat.paused_until, until)

    def paused_until(self, chat_id: int | str) -> float:
        chat = self._chats.get(chat_id)
        return chat.paused_until if chat is not None else 0.0

    def sweep(self, now: float) -> None:
        """Forget chats whose schedule no longer constrains anything."""
        idle = [chat_id for chat_id, chat in self._chats.items() if self._is_idle(chat, now)]
        for chat_id in idle:
            del self._chats[chat_id]

    def _pacing_start(self, chat_id: int | str, chat: _Chat, now: float) -> float:
        if is_group(chat_id):
            sends = chat.group_sends
            if sends is None or len(sends) < (sends.maxlen or 1):
                return now
            return sends[0] + GROUP_WINDOW_SECONDS  # the oldest of the last N leaves the window
        return chat.due - self._tolerance

    @staticmethod
    def _is_idle(chat: _Chat, now: float) -> bool:
        if chat.paused_until > now or chat.due > now:
            return False
        return not chat.group_sends or chat.group_sends[-1] + GROUP_WINDOW_SECONDS <= now


class GlobalCap:
    """An optional cap on all the bot's calls (for bots Telegram gave other limits)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._next = 0.0

    def reserve(self, now: float) -> float:
        at = max(now, self._next)
        self._next = at + self.interval
        return at


class BroadcastGate:
    """When the broadcast sender may send again. Telegram's 429s on broadcasts, and on calls
    that name no chat, silence it; they never hold up the supporters."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.quiet_until = 0.0

    def silence(self, seconds: float) -> None:
        self.quiet_until = max(self.quiet_until, self.clock() + seconds)


Deliver = Callable[[], Awaitable[object]]


class ChatPaused(Exception):
    """A supporter's screen would wait too long (the chat is paused): park it instead."""

    def __init__(self, limiter: PacingRateLimiter, chat_id: int | str, until: float) -> None:
        super().__init__(f"chat paused for {until - limiter.clock():.1f} s")
        self.limiter = limiter
        self.chat_id = chat_id
        self.until = until

    def park(self, deliver: Deliver) -> None:
        """Show this (the chat's latest screen) once the pause is over."""
        self.limiter.park(self.chat_id, deliver, self.until)


class PacingRateLimiter(BaseRateLimiter[CallKind]):
    """PTB's rate-limiter seam, shaped like Telegram's limits (see the module docstring)."""

    def __init__(
        self,
        limits: Limits | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.limits = limits or Limits()
        self.clock = clock
        self.sleep = sleep
        self.schedules = ChatSchedules(self.limits)
        self.broadcast_gate = BroadcastGate(clock)
        self._global = GlobalCap(self.limits.global_rate) if self.limits.global_rate > 0 else None
        self._pacing = self.limits.chat_rate > 0
        self._calls = 0
        self._parked: dict[int | str, asyncio.Task[None]] = {}
        self.held_back = 0  # calls that waited for their chat's pace or pause
        self.metrics: Metrics | None = None  # 429s and the time waited, when metrics are on

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        """Parked screens are dropped: the journey is in storage, the next /start shows it."""
        waiting = list(self._parked.values())
        if waiting:
            log.info("%d parked screens dropped at shutdown", len(waiting))
        self._parked.clear()
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)

    @property
    def parked(self) -> int:
        return len(self._parked)

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | JSONDict | list[JSONDict]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: CallKind | None,
    ) -> bool | JSONDict | list[JSONDict]:
        if self._global is not None:
            await self._wait_until(self._global.reserve(self.clock()))
        if endpoint in NEVER_WAIT or rate_limit_args is CallKind.BROADCAST:
            # Straight out. A 429 is the caller's: the broadcast sender silences itself, and
            # an answer to a button is useless late.
            return await callback(*args, **kwargs)
        chat_id = paced_chat(endpoint, data)
        if chat_id is None:
            return await self._unpaced(callback, args, kwargs, endpoint)
        return await self._paced(callback, args, kwargs, chat_id, rate_limit_args)

    async def _unpaced(
        self,
        callback: Callable[..., Coroutine[Any, Any, Any]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
    ) -> Any:
        for attempt in range(MAX_RETRIES + 1):
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as error:
                seconds = retry_seconds(error)
                self._flooded(seconds)
                # Telegram named no chat: whatever it limits, the bulk sender backs off too.
                self.broadcast_gate.silence(seconds)
                if attempt == MAX_RETRIES:
                    raise
                log.info("flood control on %s: waiting %.1f s", endpoint, seconds)
                await self.sleep(seconds)
        raise AssertionError("unreachable")

    async def _paced(
        self,
        callback: Callable[..., Coroutine[Any, Any, Any]],
        args: Any,
        kwargs: dict[str, Any],
        chat_id: int | str,
        kind: CallKind | None,
    ) -> Any:
        screen = kind is CallKind.SCREEN
        if screen:
            self._unpark(chat_id)  # this newer screen makes a parked one obsolete
        for attempt in range(MAX_RETRIES + 1):
            now = self.clock()
            self._calls += 1
            if self._calls % SWEEP_EVERY_CALLS == 0:
                self.schedules.sweep(now)
            if self._pacing:
                earliest = self.schedules.earliest(chat_id, now)
            else:  # pacing off: Telegram's pauses are still honoured
                earliest = max(now, self.schedules.paused_until(chat_id))
            if screen and earliest - now > self.limits.max_screen_wait:
                raise ChatPaused(self, chat_id, earliest)
            at = self.schedules.reserve(chat_id, now) if self._pacing else earliest
            if at > now:
                self.held_back += 1
                await self._wait_until(at)
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as error:
                seconds = retry_seconds(error)
                self._flooded(seconds)
                until = self.clock() + seconds
                self.schedules.pause(chat_id, until)
                log.info("flood control in one chat: pausing it %.1f s", seconds)
                if screen and seconds > self.limits.max_screen_wait:
                    raise ChatPaused(self, chat_id, until) from None
                if attempt == MAX_RETRIES:
                    raise
        raise AssertionError("unreachable")

    def _flooded(self, seconds: float) -> None:
        if self.metrics is not None:
            self.metrics.flood_waits.inc()
            self.metrics.flood_wait_seconds.inc(seconds)

    async def _wait_until(self, at: float) -> None:
        delay = at - self.clock()
        if delay > 0:
            await self.sleep(delay)

    # ---- parked screens ----------------------------------------------------------------

    def park(self, chat_id: int | str, deliver: Deliver, until: float) -> None:
        """Keep `deliver` as the chat's latest screen, to run at `until` (the pause's end)."""
        self._unpark(chat_id)
        self._parked[chat_id] = asyncio.get_running_loop().create_task(
            self._deliver_parked(chat_id, deliver, until - self.clock()), name="parked-screen"
        )

    def _unpark(self, chat_id: int | str) -> None:
        waiting = self._parked.pop(chat_id, None)
        if waiting is not None:
            waiting.cancel()

    async def _deliver_parked(self, chat_id: int | str, deliver: Deliver, delay: float) -> None:
        if delay > 0:
            await self.sleep(delay)
        if self._parked.get(chat_id) is asyncio.current_task():
            del self._parked[chat_id]  # from here on a newer screen cannot stop this one
        try:
            await deliver()
        except ChatPaused as paused:
            # Paused again meanwhile: wait for that pause too, unless a newer screen already is.
            if chat_id not in self._parked:
                paused.park(deliver)
        except Exception:
            log.exception("a parked screen could not be shown")


async def deliver_or_park(deliver: Deliver) -> None:
    """Run a supporter's screen delivery now, or, if their chat is paused, once it is over."""
    try:
        await deliver()
    except ChatPaused as paused:
        paused.park(deliver)
