"""The per-supporter rate limit: a burst, a steady rate, one polite word, then silence."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.app import bot_id_of
from bot.features.throttle import Throttle, Verdict
from bot.petition import Petition
from storage import open_storage
from tests.clock import NOW
from tests.fakes import FakeBotAPI
from tests.harness import BotInstance


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_steady_rate() -> None:
    clock = FakeClock()
    throttle = Throttle(per_second=1.0, burst=3, clock=clock)
    assert [throttle.check(7) for _ in range(5)] == [
        Verdict.ALLOW,
        Verdict.ALLOW,
        Verdict.ALLOW,
        Verdict.WARN,
        Verdict.DROP,
    ]
    assert throttle.check(8) is Verdict.ALLOW  # everyone has a bucket of their own
    clock.now += 1.0
    assert throttle.check(7) is Verdict.ALLOW
    assert throttle.check(7) is Verdict.WARN  # a new streak is warned about again
    clock.now += 60
    assert [throttle.check(7) for _ in range(3)] == [Verdict.ALLOW] * 3  # refilled to the burst


def test_memory_is_bounded() -> None:
    throttle = Throttle(per_second=1.0, burst=2, max_users=100)
    for user in range(1000):
        throttle.check(user)
    assert len(throttle) == 100


async def test_a_spammer_gets_one_answer_and_no_database_writes(
    server: FakeBotAPI, tmp_path: Path, petition: Petition
) -> None:
    async with BotInstance(
        server, f"sqlite:///{tmp_path}/t.db", petition, user_rate_limit=0.01, user_rate_burst=3
    ):
        spammer = server.user(9001, "Spam")
        for _ in range(3):
            await spammer.send("/status")
        await spammer.send("buy now")
        assert "going a little fast" in spammer.last
        for _ in range(20):
            spammer.push_text("buy now")
        await spammer.expect_silence(0.5)
        assert len(server.replies_to(9001)) == 4
        await spammer.press_data(
            "intro:sign", message_id=spammer.last_message["message_id"], expect_reply=False
        )
        assert spammer.last_answer is not None  # even a dropped press stops its spinner
        calm = server.user(9002, "Calm")
        await calm.send("/start")  # others are not affected
        assert "Sign the petition" in " ".join(calm.button_texts)
    # Dropped updates were never handled, and are done: a restart replays none of them.
    storage = open_storage(f"sqlite:///{tmp_path}/t.db")
    await storage.open()
    try:
        since = NOW - timedelta(days=1)
        assert await storage.unfinished_updates(bot_id_of(server.token), since) == []
    finally:
        await storage.close()
