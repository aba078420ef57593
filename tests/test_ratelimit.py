"""The outgoing rate limiter: Telegram's limits per chat, never a global throttle on answers.

The scheduling core is checked on plain numbers; the limiter itself on a virtual clock (its
sleeps move the clock instead of waiting), with a callback standing in for the Bot API.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from telegram.error import RetryAfter

from bot.ratelimit import (
    BroadcastGate,
    CallKind,
    ChatPaused,
    ChatSchedules,
    Limits,
    PacingRateLimiter,
    deliver_or_park,
    paced_chat,
)
from bot.settings import Settings

USER, OTHER_USER, GROUP = 1001, 1002, -100123


@pytest.fixture(autouse=True)
def _timedelta_durations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # as bot.app sets it: no deprecation noise


def flood(seconds: float) -> RetryAfter:
    """Telegram's 429, as PTB raises it."""
    return RetryAfter(timedelta(seconds=seconds))


def times_of(schedules: ChatSchedules, chat_id: int, count: int, now: float = 0.0) -> list[float]:
    """When `count` messages asked for at `now` may go, in order."""
    return [schedules.reserve(chat_id, now) for _ in range(count)]


def test_a_private_chat_gets_its_burst_at_once_then_one_a_second() -> None:
    schedules = ChatSchedules(Limits(chat_rate=1.0, chat_burst=8))
    assert times_of(schedules, USER, 11) == [0.0] * 8 + [1.0, 2.0, 3.0]


def test_a_whole_journey_tapped_as_fast_as_possible_never_waits() -> None:
    # /start and six presses: seven screens, 100 ms apart (faster than anyone taps).
    schedules = ChatSchedules(Limits())
    assert [schedules.reserve(USER, step * 0.1) for step in range(7)] == [
        step * 0.1 for step in range(7)
    ]


def test_sustained_pace_never_exceeds_the_rate_plus_the_burst() -> None:
    limits = Limits(chat_rate=1.0, chat_burst=8)
    schedules = ChatSchedules(limits)
    sent = [schedules.reserve(USER, asked * 0.05) for asked in range(200)]
    for first in range(len(sent)):
        for last in range(first, len(sent)):
            allowed = limits.chat_burst + (sent[last] - sent[first]) * limits.chat_rate
            assert last - first + 1 <= allowed + 1e-9


def test_chats_never_wait_for_each_other() -> None:
    schedules = ChatSchedules(Limits(chat_rate=1.0, chat_burst=2))
    times_of(schedules, USER, 50)  # one chat far behind
    assert schedules.reserve(OTHER_USER, 0.0) == 0.0


def test_a_pause_holds_only_the_chat_it_names() -> None:
    schedules = ChatSchedules(Limits())
    schedules.pause(USER, 5.0)
    assert schedules.reserve(USER, 1.0) == 5.0
    assert schedules.reserve(OTHER_USER, 1.0) == 1.0
    assert schedules.reserve(USER, 6.0) == 6.0  # after the pause, the burst is there again


def test_groups_get_twenty_messages_in_any_minute() -> None:
    schedules = ChatSchedules(Limits(group_per_minute=20))
    sent = [schedules.reserve(GROUP, second * 0.5) for second in range(45)]
    assert sent[:20] == [second * 0.5 for second in range(20)]
    for first in range(len(sent)):
        in_window = [at for at in sent if sent[first] <= at < sent[first] + 60.0]
        assert len(in_window) <= 20
    assert sent[20] == 60.0  # the 21st waits for the first to leave the minute


def test_idle_chats_are_forgotten_paused_ones_kept() -> None:
    schedules = ChatSchedules(Limits())
    for chat_id in range(1, 1001):
        schedules.reserve(chat_id, 0.0)
    schedules.pause(5, 100.0)
    schedules.reserve(GROUP, 0.0)
    schedules.sweep(10.0)
    assert len(schedules) == 2  # the paused chat, and the group still inside its minute
    schedules.sweep(100.0)
    assert len(schedules) == 0


@pytest.mark.parametrize(
    ("endpoint", "data", "chat"),
    [
        ("sendMessage", {"chat_id": USER}, USER),
        ("editMessageText", {"chat_id": USER, "message_id": 1}, USER),
        ("sendPhoto", {"chat_id": GROUP}, GROUP),
        ("copyMessage", {"chat_id": "@channel"}, "@channel"),
        ("editMessageText", {"inline_message_id": "x"}, None),  # no chat to pace
        ("sendChatAction", {"chat_id": USER}, None),  # not a message
        ("answerCallbackQuery", {"callback_query_id": "1"}, None),
        ("deleteMessage", {"chat_id": USER, "message_id": 1}, None),
        ("setMyCommands", {}, None),
    ],
)
def test_which_calls_count_against_a_chat(endpoint: str, data: dict[str, Any], chat: Any) -> None:
    assert paced_chat(endpoint, data) == chat


class VirtualTime:
    """A monotonic clock that sleeping moves forward: limiter tests take no real time."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


class FakeApi:
    """Stands in for the Bot API call; raises what the script says, records when it ran."""

    def __init__(self, time: VirtualTime, failures: list[Exception] | None = None) -> None:
        self.time = time
        self.failures = list(failures or [])
        self.calls: list[tuple[float, str]] = []

    def callback(self, label: str) -> Callable[..., Any]:
        async def call(*_: Any, **__: Any) -> bool:
            self.calls.append((self.time.now, label))
            if self.failures:
                raise self.failures.pop(0)
            return True

        return call


def limiter_on(time: VirtualTime, **limits: Any) -> PacingRateLimiter:
    return PacingRateLimiter(Limits(**limits), clock=time, sleep=time.sleep)


async def call(
    limiter: PacingRateLimiter,
    api: FakeApi,
    endpoint: str,
    data: dict[str, Any],
    kind: CallKind | None = None,
    label: str = "",
) -> Any:
    return await limiter.process_request(
        api.callback(label or endpoint), (), {}, endpoint, data, kind
    )


async def test_answers_to_buttons_never_wait_and_are_never_retried() -> None:
    time = VirtualTime()
    limiter = limiter_on(time)
    api = FakeApi(time, [flood(30)])
    with pytest.raises(RetryAfter):
        await call(limiter, api, "answerCallbackQuery", {"callback_query_id": "q"})
    for _ in range(100):  # and nothing paces them
        await call(limiter, api, "answerCallbackQuery", {"callback_query_id": "q"})
    assert time.slept == []


async def test_a_429_is_waited_out_exactly_as_asked_and_only_in_its_chat() -> None:
    time = VirtualTime()
    limiter = limiter_on(time)
    api = FakeApi(time, [flood(1)])
    await call(limiter, api, "sendMessage", {"chat_id": USER}, label="first try")
    assert api.calls == [(100.0, "first try"), (101.0, "first try")]  # retried after 1 s
    await call(limiter, api, "sendMessage", {"chat_id": OTHER_USER}, label="other")
    assert api.calls[-1] == (101.0, "other")  # the other chat never waited


async def test_a_screen_in_a_long_paused_chat_is_parked_and_only_the_latest_shown() -> None:
    time = VirtualTime()
    limiter = limiter_on(time)
    api = FakeApi(time, [flood(5)])
    shown: list[str] = []
    any_shown = asyncio.Event()

    def screen(name: str) -> Callable[[], Any]:
        async def deliver() -> None:
            await call(limiter, api, "editMessageText", {"chat_id": USER}, CallKind.SCREEN, name)
            shown.append(name)
            any_shown.set()

        return deliver

    await deliver_or_park(screen("step 2"))  # the 429: parked, nothing shown, nothing waited
    assert (shown, limiter.parked, time.slept) == ([], 1, [])
    await deliver_or_park(screen("step 3"))  # the supporter went on: step 2 is obsolete
    await deliver_or_park(screen("step 4"))
    assert (shown, limiter.parked) == ([], 1)
    # Other chats carry on meanwhile.
    await call(limiter, api, "sendMessage", {"chat_id": OTHER_USER}, CallKind.SCREEN, "B")
    assert api.calls[-1] == (100.0, "B")
    async with asyncio.timeout(5):
        await any_shown.wait()  # once the (virtual) pause is over
    await asyncio.sleep(0)
    assert shown == ["step 4"]
    assert [label for _, label in api.calls] == ["step 2", "B", "step 4"]
    assert api.calls[-1][0] >= 105.0  # not before the 5 s Telegram asked for
    assert limiter.parked == 0


async def test_a_short_pause_is_waited_out_in_line() -> None:
    time = VirtualTime()
    limiter = limiter_on(time)
    api = FakeApi(time, [flood(1)])
    await deliver_or_park(
        lambda: call(limiter, api, "sendMessage", {"chat_id": USER}, CallKind.SCREEN)
    )
    assert [at for at, _ in api.calls] == [100.0, 101.0]
    assert limiter.parked == 0


async def test_a_screen_asked_for_while_the_chat_is_paused_is_parked_without_a_call() -> None:
    time = VirtualTime()
    limiter = limiter_on(time)
    limiter.schedules.pause(USER, time.now + 10)
    api = FakeApi(time)
    with pytest.raises(ChatPaused):
        await call(limiter, api, "sendMessage", {"chat_id": USER}, CallKind.SCREEN)
    assert api.calls == []


async def test_broadcasts_share_nothing_with_supporters() -> None:
    time = VirtualTime()
    limiter = limiter_on(time, chat_burst=1)
    api = FakeApi(time, [flood(7)])
    # A 429 on a broadcast is the broadcast sender's to handle: raised at once, no chat paused.
    with pytest.raises(RetryAfter):
        await call(limiter, api, "sendMessage", {"chat_id": USER}, CallKind.BROADCAST)
    # ...and broadcasts take nothing from the chat's budget: the supporter's screen goes now.
    for _ in range(5):
        await call(limiter, api, "sendMessage", {"chat_id": USER}, CallKind.BROADCAST)
    await call(limiter, api, "sendMessage", {"chat_id": USER}, CallKind.SCREEN, "screen")
    assert api.calls[-1] == (100.0, "screen")
    assert limiter.broadcast_gate.quiet_until == 0.0  # the sender silences itself


async def test_a_429_naming_no_chat_silences_broadcasts_not_supporters() -> None:
    time = VirtualTime()
    limiter = limiter_on(time)
    api = FakeApi(time, [flood(4)])
    await call(limiter, api, "setMyCommands", {"commands": []})
    assert limiter.broadcast_gate.quiet_until == 104.0
    assert api.calls[-1][0] == 104.0
    await call(limiter, api, "sendMessage", {"chat_id": USER}, CallKind.SCREEN, "screen")
    assert api.calls[-1] == (104.0, "screen")  # no wait beyond the one already taken


async def test_the_optional_global_cap_spaces_every_call() -> None:
    time = VirtualTime()
    limiter = limiter_on(time, global_rate=10.0)
    api = FakeApi(time)
    for chat_id in range(5):
        await call(limiter, api, "sendMessage", {"chat_id": chat_id})
    await call(limiter, api, "answerCallbackQuery", {"callback_query_id": "q"})
    assert [round(at - 100.0, 3) for at, _ in api.calls] == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]


async def test_ordinary_calls_give_up_after_a_few_429s() -> None:
    time = VirtualTime()
    limiter = limiter_on(time)
    api = FakeApi(time, [flood(1)] * 10)
    with pytest.raises(RetryAfter):
        await call(limiter, api, "sendMessage", {"chat_id": USER})
    assert len(api.calls) == 4


def test_the_gate_keeps_the_longest_silence() -> None:
    time = VirtualTime()
    gate = BroadcastGate(time)
    gate.silence(5)
    gate.silence(1)
    assert gate.quiet_until == 105.0


def test_api_rate_limit_is_read_for_one_more_release_with_a_warning() -> None:
    with pytest.warns(FutureWarning, match="API_RATE_LIMIT is deprecated"):
        settings = Settings(_env_file=None, api_rate_limit=25)  # type: ignore[call-arg]
    assert settings.global_rate_limit == 25
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (defaults.global_rate_limit, defaults.chat_rate_limit) == (0.0, 1.0)
    assert defaults.chat_rate_burst == 8 and defaults.group_rate_limit == 20
