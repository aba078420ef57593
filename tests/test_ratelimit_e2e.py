"""Telegram's limits, end to end: the real bot against the fake Bot API, which records every
call with its time. Pacing and pauses are checked on those timestamps.

The other end-to-end tests turn per-chat pacing off (their users click faster than people);
these turn it on, with a quicker rate where waiting a second per message would only slow the
suite down.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.petition import Petition
from bot.ratelimit import PacingRateLimiter
from tests.bidi import unisolated
from tests.fakes import FakeBotAPI, FakeUser
from tests.fakes.bot_api import Call
from tests.harness import BotInstance
from tests.test_broadcast_e2e import ADMIN, add_signers, compose, finished, received

ALICE, BOB, CAROL = 971_001, 971_002, 971_003
JOURNEY = ("Sign the petition", "Canada", "or older", "I agree", "Use this name", "Sign now")


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: pacing happens before any database is involved, and these tests wait."""
    return f"sqlite:///{tmp_path}/paced.db"


@pytest.fixture
async def bot(
    server: FakeBotAPI, database_url: str, petition: Petition
) -> AsyncIterator[BotInstance]:
    """The production pacing (one message a second per chat after a burst of 8)."""
    async with BotInstance(
        server, database_url, petition, chat_rate_limit=1.0, admin_ids=str(ADMIN)
    ) as instance:
        yield instance


def writes_to(server: FakeBotAPI, chat_id: int) -> list[Call]:
    """Every sendMessage and editMessageText in this chat, refused ones included."""
    return [
        call
        for call in server.calls
        if call.method in ("sendMessage", "editMessageText")
        and call.params.get("chat_id") == chat_id
    ]


async def sign(user: FakeUser) -> None:
    await user.send("/start")
    for label in JOURNEY:
        await user.press(label)
    assert "You are signer #" in unisolated(user.last)


async def test_replies_in_one_chat_keep_to_the_pace_and_others_never_wait(
    server: FakeBotAPI, database_url: str, petition: Petition
) -> None:
    rate, burst = 5.0, 3
    async with BotInstance(
        server, database_url, petition, chat_rate_limit=rate, chat_rate_burst=burst
    ):
        alice, bob = server.user(ALICE, "Alice"), server.user(BOB, "Bob")
        for _ in range(12):
            alice.push_text("/help")
        await bob.send("/start")  # answered while Alice's replies are still being paced
        assert len([call for call in writes_to(server, ALICE) if call.ok]) < 12
        await alice.wait_for_replies(12, timeout=10)
    times = [call.at for call in writes_to(server, ALICE)]
    assert len(times) == 12
    for first in range(len(times)):
        for last in range(first + 1, len(times)):
            # The bot books slots exactly; the server's clock adds the jitter of a busy
            # machine (up to 150 ms here: without pacing all 12 would land within that).
            allowed = burst + (times[last] - times[first] + 0.15) * rate
            assert last - first + 1 <= allowed, (first, last, times)


async def test_a_whole_journey_at_full_speed_is_never_held_back(
    server: FakeBotAPI, bot: BotInstance
) -> None:
    alice = server.user(ALICE, "Alice")
    await sign(alice)
    writes = writes_to(server, ALICE)
    assert len(writes) == 7 and all(call.ok for call in writes)
    assert bot.application is not None
    limiter = bot.application.bot.rate_limiter
    assert isinstance(limiter, PacingRateLimiter)
    assert limiter.held_back == 0  # seven screens fit in the burst: none waited


async def test_a_flood_wait_in_one_chat_never_delays_another(
    server: FakeBotAPI, bot: BotInstance
) -> None:
    server.fail_next("sendMessage", status=429, retry_after=4, chat_id=ALICE)
    alice, bob = server.user(ALICE, "Alice"), server.user(BOB, "Bob")
    alice.push_text("/start")
    await server.wait_until(lambda: len(writes_to(server, ALICE)) == 1)
    await sign(bob)  # the whole journey while Alice's chat is paused
    assert [call.ok for call in writes_to(server, ALICE)] == [False]
    await alice.wait_for_replies(1, timeout=10)
    refused, delivered = writes_to(server, ALICE)
    assert delivered.ok and "Sign the petition" in str(delivered.params["reply_markup"])
    assert delivered.at - refused.at >= 4.0  # never sooner than Telegram asked
    assert len(writes_to(server, BOB)) == 7  # and nothing of Bob's was sent twice


async def test_after_a_long_pause_only_the_current_screen_is_shown(
    server: FakeBotAPI, bot: BotInstance
) -> None:
    alice = server.user(ALICE, "Alice")
    await alice.send("/start")
    server.fail_next("editMessageText", status=429, retry_after=3, chat_id=ALICE)
    await alice.press("Sign the petition", expect_reply=False)  # refused: the chat is paused
    # Impatient, Alice presses on: the first screen is still all she sees.
    await alice.press("Sign the petition", expect_reply=False)
    await alice.press("Sign the petition", expect_reply=False)
    paused_at = writes_to(server, ALICE)[-1]
    assert paused_at.response.get("error_code") == 429
    await server.wait_until(lambda: writes_to(server, ALICE)[-1].ok, timeout=10)
    await alice.expect_silence(0.5)
    after = writes_to(server, ALICE)[2:]
    assert len(after) == 1, [call.describe() for call in after]  # one screen, no backlog
    assert after[0].at - paused_at.at >= 3.0
    assert "Where do you live?" in unisolated(alice.last)


async def test_broadcasts_and_supporters_share_nothing(
    server: FakeBotAPI, bot: BotInstance
) -> None:
    recipients = range(972_001, 972_011)
    await add_signers(server, bot.storage, bot.petition, recipients)
    # Telegram silences the broadcast for 4 s at its first recipient...
    server.fail_next("sendMessage", status=429, retry_after=4, chat_id=recipients[0])
    admin = server.user(ADMIN, "Admin")
    await compose(admin, "News")
    await admin.press("Send")
    await server.wait_until(
        lambda: any(call.response.get("error_code") == 429 for call in server.calls)
    )
    # ...while a supporter signs at full speed, and a paused supporter holds up nobody.
    server.fail_next("sendMessage", status=429, retry_after=30, chat_id=CAROL)
    server.user(CAROL, "Carol").push_text("/start")
    await sign(server.user(BOB, "Bob"))
    assert not all(received(server, user_id) for user_id in recipients)  # still silenced
    summary = await finished(server, within=20)
    assert "Sent 10 of about 10" in summary
    assert all(received(server, user_id) == ["News"] for user_id in recipients)
    assert [call.ok for call in writes_to(server, CAROL)] == [False]  # still paused, alone
