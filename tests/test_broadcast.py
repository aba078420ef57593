"""The broadcast sender against real storage (SQLite and PostgreSQL) and a scripted bot.

The end-to-end tests (test_broadcast_e2e.py) go through the fake Bot API, where the
application's rate limiter answers the first 429s itself; here the bot raises exactly what
each test needs, so every branch of a delivery is reached: the 429 that gets past the limiter,
a blocked chat, a refused one, and calls whose outcome cannot be known.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sequence
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.admin_screens.broadcasts import duration_text, excerpt, figures
from bot.broadcasting import BroadcastSender, SendSchedule
from bot.features.broadcast import parse_button
from bot.i18n import translator
from bot.ratelimit import retry_seconds
from storage.base import Storage
from storage.records import BroadcastState, Delivery
from tests.bidi import unisolated
from tests.clock import NOW, running_from
from tests.conftest import execute_raw
from tests.stored import PETITION, SIGNED, request_for

ADMIN = 10**9  # not among the recipients


class ScriptedBot:
    """Records every call with its monotonic time; raises what the script says, per chat."""

    def __init__(
        self, script: dict[int, list[Exception]] | None = None, latency: float = 0.0
    ) -> None:
        self.script = script or {}
        self.latency = latency
        self.sends: list[tuple[float, int, str]] = []
        self.sent = asyncio.Event()  # set on every send: tests wait on it
        self.in_flight = self.most_in_flight = 0

    async def send_message(self, chat_id: int, text: str, **_: Any) -> SimpleNamespace:
        self.sends.append((time.monotonic(), chat_id, text))
        self.sent.set()
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
        finally:
            self.in_flight -= 1
        failures = self.script.get(chat_id)
        if failures:
            raise failures.pop(0)
        return SimpleNamespace(message_id=len(self.sends))

    async def edit_message_text(self, text: str, **_: Any) -> bool:
        return True

    async def delete_message(self, chat_id: int, message_id: int) -> bool:
        return True

    def to(self, chat_id: int) -> list[tuple[float, int, str]]:
        return [send for send in self.sends if send[1] == chat_id]

    def texts_to(self, chat_id: int) -> list[str]:
        return [text for _, _, text in self.to(chat_id)]


def sender_for(storage: Storage, bot: ScriptedBot, owner: str, **options: Any) -> BroadcastSender:
    values: dict[str, Any] = {"rate": 1000.0, "lease": timedelta(seconds=30), "owner": owner}
    values.update(options)
    return BroadcastSender(
        bot,  # type: ignore[arg-type]
        storage,
        PETITION,
        clock=running_from(NOW),
        language="en",
        **values,
    )


async def confirmed_broadcast(storage: Storage, recipients: Sequence[int], text: str) -> int:
    for user_id in recipients:
        await storage.sign(request_for(user_id, wants_updates=True), SIGNED)
    broadcast_id = await storage.create_broadcast(PETITION, ADMIN, text, now=NOW)
    assert await storage.set_broadcast_state(
        broadcast_id, BroadcastState.SENDING, expected=BroadcastState.DRAFT
    )
    return broadcast_id


async def delivery_states(storage: Storage, broadcast_id: int) -> dict[int, str]:
    rows = await execute_raw(
        storage,
        f"SELECT user_id, state FROM broadcast_deliveries WHERE broadcast_id = {broadcast_id}",
    )
    return {int(user_id): str(state) for user_id, state in rows}


async def test_each_outcome_of_a_delivery(storage: Storage) -> None:
    broadcast_id = await confirmed_broadcast(storage, range(1, 7), "News")
    bot = ScriptedBot(
        {
            2: [RetryAfter(timedelta(seconds=0.2))],  # past the limiter: we wait it out
            3: [Forbidden("Forbidden: bot was blocked by the user")],
            4: [BadRequest("Chat not found")],
            5: [TimedOut()],  # may have arrived
            6: [NetworkError("connection reset")],
        }
    )
    assert await sender_for(storage, bot, "a").send_due()

    assert await delivery_states(storage, broadcast_id) == {
        1: "sent",
        2: "sent",
        3: "blocked",
        4: "failed",
        5: "sending",
        6: "sending",
    }
    first, second = bot.to(2)
    assert second[0] - first[0] >= 0.2  # the pause, once, then the same recipient again
    assert [len(bot.to(user_id)) for user_id in (1, 3, 4, 5, 6)] == [1, 1, 1, 1, 1]
    assert (await storage.load(PETITION, 3)).blocked
    done = await storage.get_broadcast(broadcast_id)
    assert done is not None and done.state is BroadcastState.DONE
    summary = unisolated(bot.texts_to(ADMIN)[-1])
    assert "Broadcast #1 is finished" in summary.replace(f"#{broadcast_id}", "#1")
    assert "Sent 2 of about 6 · 1 blocked · 1 failed · 2 unknown" in summary
    assert "2 messages were being handed to Telegram" in summary
    assert not await sender_for(storage, bot, "a").send_due()  # nothing left to send


async def test_unknown_deliveries_are_never_sent_again(storage: Storage) -> None:
    broadcast_id = await confirmed_broadcast(storage, range(1, 5), "Once")
    await storage.claim_recipients(broadcast_id, 3, now=NOW)
    # A crashed sender: 1 was handed over (unknown), 2 and 3 were only queued.
    await storage.set_delivery(broadcast_id, 1, Delivery.SENDING, now=NOW)
    bot = ScriptedBot()
    assert await sender_for(storage, bot, "b").send_due()
    assert [chat for _, chat, _ in bot.sends if chat != ADMIN] == [2, 3, 4]
    assert await delivery_states(storage, broadcast_id) == {
        1: "sending",
        2: "sent",
        3: "sent",
        4: "sent",
    }
    assert "after it was resumed" in bot.texts_to(ADMIN)[-1]
    assert "1 unknown" in unisolated(bot.texts_to(ADMIN)[-1])


async def test_stop_hands_the_lease_on_at_once(make_storage: Any) -> None:
    first_storage, second_storage = await make_storage(), await make_storage()
    recipients = range(1, 31)
    broadcast_id = await confirmed_broadcast(first_storage, recipients, "Relay")
    long_lease = timedelta(minutes=10)  # only a handover lets the second sender in
    first_bot, second_bot = ScriptedBot(latency=0.005), ScriptedBot()
    first = sender_for(first_storage, first_bot, "first", rate=200.0, lease=long_lease)
    first.start()
    await _wait_for_sends(first_bot, 10)
    await first.stop()
    second = sender_for(second_storage, second_bot, "second", lease=long_lease)
    assert await second.send_due()
    states = await delivery_states(second_storage, broadcast_id)
    unknown = {user_id for user_id, state in states.items() if state == "sending"}
    assert not unknown  # the calls in flight at the stop finished first
    for user_id in recipients:
        calls = len(first_bot.to(user_id)) + len(second_bot.to(user_id))
        assert calls == 1 or (calls == 0 and user_id in unknown), (user_id, calls)
    assert second_bot.to(recipients[-1])  # the second sender finished the job


@given(
    gaps=st.lists(st.floats(min_value=0, max_value=0.2), min_size=1, max_size=200),
    rate=st.sampled_from([1.0, 20.0, 30.0, 50.0]),
)
def test_the_schedule_never_exceeds_the_rate_nor_bursts_after_a_pause(
    gaps: list[float], rate: float
) -> None:
    """Sends asking for slots at any moments (a busy loop, slow calls, pauses)."""
    schedule = SendSchedule(1 / rate)
    now, slots = 0.0, []
    for gap in gaps:
        now += gap
        slot = schedule.reserve(now)
        assert slot >= now  # never in the past: a pause is not made up for
        slots.append(slot)
    for earlier, later in itertools.pairwise(slots):
        assert later - earlier >= 1 / rate - 1e-9
    # In any one second, at most `rate` slots.
    window = 1.0 - 1e-6  # float sums of the interval land a hair short of a whole second
    assert max(sum(1 for t in slots if start <= t < start + window) for start in slots) <= rate


def test_a_quiet_period_moves_the_next_slot_after_it() -> None:
    schedule = SendSchedule(0.1)
    assert schedule.reserve(0.0) == 0.0
    assert schedule.reserve(0.0, quiet_until=5.0) == 5.0
    assert schedule.reserve(0.0) == pytest.approx(5.1)


async def test_the_sender_paces_every_send_through_its_schedule(storage: Storage) -> None:
    await confirmed_broadcast(storage, range(1, 21), "Paced")
    bot = ScriptedBot()
    sender = sender_for(storage, bot, "a", rate=50.0)
    reserved: list[float] = []
    reserve = sender.schedule.reserve

    def recording(now: float, quiet_until: float = 0.0) -> float:
        reserved.append(reserve(now, quiet_until))
        return reserved[-1]

    sender.schedule.reserve = recording  # type: ignore[method-assign]
    assert await sender.send_due()
    assert len([chat for _, chat, _ in bot.sends if chat != ADMIN]) == 20
    assert len(reserved) == 20
    assert all(b - a >= 1 / 50 - 1e-9 for a, b in itertools.pairwise(reserved))


async def test_a_slow_api_does_not_slow_the_rate(storage: Storage) -> None:
    # Calls lasting five intervals: one at a time would send at a fifth of the rate.
    await confirmed_broadcast(storage, range(1, 41), "Overlapping")
    bot = ScriptedBot(latency=0.05)
    assert await sender_for(storage, bot, "a", rate=100.0).send_due()
    assert len([chat for _, chat, _ in bot.sends if chat != ADMIN]) == 40
    assert bot.most_in_flight >= 3


async def test_a_stopped_broadcast_ends_within_a_batch(storage: Storage) -> None:
    broadcast_id = await confirmed_broadcast(storage, range(1, 41), "Stop")
    stopped_after = 5

    class StoppingBot(ScriptedBot):
        async def send_message(self, chat_id: int, text: str, **extra: Any) -> SimpleNamespace:
            if chat_id != ADMIN and len(self.sends) == stopped_after:
                await storage.set_broadcast_state(
                    broadcast_id, BroadcastState.STOPPED, expected=BroadcastState.SENDING
                )
            return await super().send_message(chat_id, text, **extra)

    bot = StoppingBot()
    assert await sender_for(storage, bot, "a", batch_size=10).send_due()
    sent = [chat for _, chat, _ in bot.sends if chat != ADMIN]
    assert len(sent) == 10  # the rest of the batch, then the stop was seen
    assert "was stopped" in bot.texts_to(ADMIN)[-1]
    assert not await sender_for(storage, bot, "a").send_due()  # never resumed


def test_parse_button() -> None:
    assert parse_button("bc:send:12") == ("send", 12)
    assert parse_button("bc:cancel:7") == ("cancel", 7)
    for forged in ("bc:send:", "bc:send:-1", "bc:resend:1", "bc:send:1:2", "xx:send:1", ""):
        assert parse_button(forged) is None


def test_figures_and_texts() -> None:
    t = translator("en")
    progress = {Delivery.SENT: 1200, Delivery.BLOCKED: 3, Delivery.SENDING: 1}
    assert unisolated(figures(t, progress, 5000, unknown=False)) == (
        "Sent 1,200 of about 5,000 · 3 blocked · 0 failed"
    )
    assert unisolated(figures(t, progress, 5000, unknown=True)).endswith(" · 1 unknown")
    assert duration_text(t, 125) == "2 minutes"
    assert excerpt("<b>Big</b> news &amp;\nmore " + "x" * 100).startswith("Big news &amp; more")
    assert len(excerpt("y" * 100)) == 60


def test_retry_seconds_either_way() -> None:
    assert retry_seconds(RetryAfter(3)) == 3.0
    assert retry_seconds(RetryAfter(timedelta(milliseconds=250))) == 0.25


async def _wait_for_sends(bot: ScriptedBot, count: int, within: float = 5.0) -> None:
    async with asyncio.timeout(within):
        while len(bot.sends) < count:
            bot.sent.clear()
            await bot.sent.wait()


@pytest.fixture(autouse=True)
def _quiet_ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    # As the application does: RetryAfter keeps a timedelta without a deprecation warning.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
