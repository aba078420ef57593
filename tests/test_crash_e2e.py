"""Crash safety: kill -9 the bot mid-burst, or cut its database connections; lose nothing.

Every supporter who was shown "You are signer #N" must be in the database as signer N, no
one twice, counts exact, and every unfinished journey must carry on after the restart.
The burst is small in CI; set SOAK=1 for the 1,000-supporter version.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import asyncpg

from bot.settings import PROJECT_ROOT
from storage import open_storage
from storage.postgres.connection import APPLICATION_NAME
from tests.bidi import unisolated
from tests.conftest import TEST_DATABASE_URL
from tests.fakes import FakeBotAPI, FakeUser

SUPPORTERS = 1000 if os.environ.get("SOAK") else 150
CONCURRENCY = 100
PETITION_ID = "five-eyes-organ-harvesting"  # the default petition file's id
SIGNER = re.compile(r"You are signer #([\d,]+)\.")
ALREADY = re.compile(r"as signer #([\d,]+)")
# What a supporter presses on each screen, in order of preference.
UNANSWERED: list[int] = []
NEXT_BUTTONS = ("Sign the petition", "Canada", "or older", "I agree", "Use this name", "Sign now")


class BotProcess:
    """`python run_bot.py` as its own process, so it can really be killed."""

    def __init__(self, server: FakeBotAPI, database_url: str) -> None:
        clean = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("TELEGRAM_", "DATABASE_", "PETITION_", "WEBHOOK_"))
        }
        self.env = {
            **clean,
            "TELEGRAM_BOT_TOKEN": server.token,
            "TELEGRAM_API_URL": server.url,
            "DATABASE_URL": database_url,
            "POLLING_TIMEOUT": "1",
            "CHAT_RATE_LIMIT": "0",
            "USER_RATE_LIMIT": "0",
            "LOG_LEVEL": "WARNING",
        }
        self.process: asyncio.subprocess.Process | None = None

    async def start(self, server: FakeBotAPI) -> None:
        polls_before = len(server.calls_for("getUpdates"))
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(PROJECT_ROOT / "run_bot.py"),
            env=self.env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await server.wait_until(
            lambda: len(server.calls_for("getUpdates")) > polls_before, timeout=30
        )

    async def kill(self) -> None:
        assert self.process is not None
        self.process.kill()  # SIGKILL: no cleanup, no offset commit, nothing
        await self.process.wait()

    async def terminate(self) -> int:
        assert self.process is not None
        self.process.terminate()
        return await asyncio.wait_for(self.process.wait(), timeout=30)


def shown_numbers(server: FakeBotAPI, user: FakeUser) -> set[int]:
    numbers = set()
    for text in server.replies_to(user.user_id):
        for pattern in (SIGNER, ALREADY):
            found_in = pattern.findall(unisolated(text))
            numbers |= {int(found.replace(",", "")) for found in found_in}
    return numbers


async def walk_until_signed(server: FakeBotAPI, user: FakeUser) -> None:
    """A patient supporter: presses whatever moves them forward, riding out crashes.

    Every message must be answered, if need be after the restart (unanswered ones are counted
    in UNANSWERED, which the tests require to stay empty).
    """
    for _attempt in range(40):
        if user.messages and (
            SIGNER.search(unisolated(user.last)) or ALREADY.search(unisolated(user.last))
        ):
            return
        labels = [unisolated(label) for label in user.button_texts]
        choice = next(
            (want for want in NEXT_BUTTONS if any(want in label for label in labels)), None
        )
        try:
            if choice is None:
                await user.send("/start", timeout=20)
            else:
                await user.press(choice, timeout=20)
        except AssertionError:
            UNANSWERED.append(user.user_id)  # no reply even after the restart: lost
            continue
    raise AssertionError(f"{user.user_id} never finished: {unisolated(user.last)!r}")


async def burst(server: FakeBotAPI, users: list[FakeUser]) -> None:
    semaphore = asyncio.Semaphore(CONCURRENCY)

    async def one(user: FakeUser) -> None:
        async with semaphore:
            await walk_until_signed(server, user)

    await asyncio.gather(*(one(user) for user in users))


async def check_database(server: FakeBotAPI, database_url: str, users: list[FakeUser]) -> None:
    storage = open_storage(database_url)
    await storage.open()
    try:
        total = await storage.total(PETITION_ID)
        assert total == len(users)
        assert await storage.recount(PETITION_ID) == total  # counters never drifted
        numbers = []
        for user in users:
            record = await storage.load(PETITION_ID, user.user_id)
            assert record.signature is not None, f"{user.user_id} lost their signature"
            shown = shown_numbers(server, user)
            assert shown == {record.signature.number}, (user.user_id, shown)
            numbers.append(record.signature.number)
        assert sorted(numbers) == list(range(1, len(users) + 1))
    finally:
        await storage.close()


async def until_a_third_have_signed(server: FakeBotAPI, users: list[FakeUser]) -> None:
    """The moment to strike: a third of the supporters have been told their number."""
    await server.wait_until(
        lambda: sum(bool(shown_numbers(server, user)) for user in users) >= len(users) // 3,
        timeout=120,
    )


async def test_kill_9_mid_burst_loses_nothing(server: FakeBotAPI, tmp_path: Path) -> None:
    UNANSWERED.clear()
    database_url = f"sqlite:///{tmp_path}/crash.db"
    bot = BotProcess(server, database_url)
    await bot.start(server)
    users = [server.user(80_000 + index, f"Crash {index}") for index in range(SUPPORTERS)]
    running = asyncio.create_task(burst(server, users))
    await until_a_third_have_signed(server, users)
    await bot.kill()
    await bot.start(server)
    await asyncio.wait_for(running, timeout=300)
    assert await bot.terminate() == 0
    await check_database(server, database_url, users)
    assert UNANSWERED == []  # updates received before the kill were handled after it


async def test_database_connections_cut_mid_burst(server: FakeBotAPI, postgres_url: str) -> None:
    UNANSWERED.clear()
    bot = BotProcess(server, postgres_url)
    await bot.start(server)
    users = [server.user(90_000 + index, f"Cut {index}") for index in range(SUPPORTERS)]
    running = asyncio.create_task(burst(server, users))
    await until_a_third_have_signed(server, users)
    admin = await asyncpg.connect(TEST_DATABASE_URL)
    try:
        # Every connection of the bot's pool is cut, whatever it was doing.
        cut = await admin.fetchval(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = $1",
            APPLICATION_NAME,
        )
        assert cut > 0
    finally:
        await admin.close()
    await asyncio.wait_for(running, timeout=300)
    assert await bot.terminate() == 0
    await check_database(server, postgres_url, users)
    assert UNANSWERED == []
