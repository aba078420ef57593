"""Logs name no one; unexpected errors reach the admins, once per kind per ten minutes."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from pathlib import Path

import aiohttp
import pytest

from bot.app import PSEUDONYM_SECRET
from bot.features.errors import AdminAlerts, describe
from bot.logs import JsonFormatter
from bot.petition import Petition
from bot.telegram_io import pseudonym, set_pseudonym_key
from tests.fakes import FakeBotAPI
from tests.harness import BotInstance, WebhookBotInstance, raw_message
from tests.test_journey_e2e import sign_up_to_preview

ADMIN = 424242


def test_json_log_lines_parse() -> None:
    record = logging.LogRecord("bot.x", logging.WARNING, __file__, 1, "hello %s", ("ü",), None)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["level"] == "WARNING" and entry["message"] == "hello ü"
    assert entry["logger"] == "bot.x" and entry["time"].endswith("+00:00")


def test_alerts_are_rate_limited_per_kind() -> None:
    now = [0.0]
    alerts = AdminAlerts(frozenset({1}), interval=600, clock=lambda: now[0])
    assert alerts.due("A") and not alerts.due("A") and alerts.due("B")
    now[0] = 601
    assert alerts.due("A")


def test_describe_names_the_place_not_the_message() -> None:
    try:
        raise ValueError("secret personal data")
    except ValueError as error:
        text = describe(error)
    assert text.startswith("ValueError at test_logging_and_alerts.py:")
    assert "secret" not in text


async def test_logs_carry_no_telegram_ids(
    server: FakeBotAPI, tmp_path: Path, petition: Petition, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot")
    caplog.set_level(logging.DEBUG, logger="storage")
    async with BotInstance(server, f"sqlite:///{tmp_path}/l.db", petition):
        user = server.user(987654321, "Private Person")
        await sign_up_to_preview(user)
        server.block(987654321)
        await user.press("Sign now", expect_reply=False)
    assert any("blocked the bot" in record.getMessage() for record in caplog.records)
    for record in caplog.records:
        assert "987654321" not in record.getMessage()
        assert "Private Person" not in record.getMessage()


async def test_admins_are_alerted_once_about_a_failure(
    server: FakeBotAPI, tmp_path: Path, petition: Petition, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with BotInstance(
        server, f"sqlite:///{tmp_path}/a.db", petition, admin_ids=str(ADMIN)
    ) as bot:
        admin = server.user(ADMIN, "Admin")
        await admin.send("/help")  # the admin has talked to the bot, so it may write to them

        async def broken(*args: object, **kwargs: object) -> object:
            raise RuntimeError("database went away")

        monkeypatch.setattr(bot.storage, "load", broken)
        for user_id in (8101, 8102, 8103):
            supporter = server.user(user_id, "S")
            await supporter.send("/status")
            assert "something went wrong on our side" in supporter.last
        alerts = [text for text in server.replies_to(ADMIN) if "unexpected error" in text]
        assert len(alerts) == 1
        assert "RuntimeError at" in alerts[0] and "database went away" not in alerts[0]


def test_pseudonyms_are_keyed_and_stable_per_key() -> None:
    set_pseudonym_key(b"k" * 32)
    first = pseudonym(123456789)
    assert first == pseudonym(123456789) and len(first) == 16
    assert first != pseudonym(123456788)
    set_pseudonym_key(b"other key")
    assert pseudonym(123456789) != first  # without the key, no table of ids turns it back


async def test_the_bot_takes_its_pseudonym_key_from_the_database(
    server: FakeBotAPI, tmp_path: Path, petition: Petition
) -> None:
    async with BotInstance(server, f"sqlite:///{tmp_path}/k.db", petition) as bot:
        key = await bot.storage.shared_secret(PSEUDONYM_SECRET)
        expected = hashlib.blake2b(b"42", digest_size=8, key=key, person=b"petition-log")
        assert pseudonym(42) == expected.hexdigest()


async def test_an_update_that_fails_in_a_handler_is_done_and_never_replayed(
    server: FakeBotAPI, tmp_path: Path, petition: Petition, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Polling: a failing update is finished like any other, so a restart does not rerun it."""
    database = f"sqlite:///{tmp_path}/f.db"
    async with BotInstance(server, database, petition) as bot:
        healthy_load = bot.storage.load

        async def broken(*args: object, **kwargs: object) -> object:
            raise RuntimeError("handler failed")

        monkeypatch.setattr(bot.storage, "load", broken)
        supporter = server.user(8201, "S")
        await supporter.send("/status")
        assert "something went wrong on our side" in supporter.last
        monkeypatch.setattr(bot.storage, "load", healthy_load)
        await supporter.send("/help")  # the bot goes on with the next update
    async with BotInstance(server, database, petition):
        await supporter.expect_silence(0.5)  # nothing replayed after the restart
    assert sum("something went wrong" in text for text in server.replies_to(8201)) == 1


async def test_a_webhook_update_that_fails_is_answered_200_and_done(
    server: FakeBotAPI, tmp_path: Path, petition: Petition, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Webhook: Telegram gets 200 (no endless redelivery) and a copy finds the update done."""
    server.webhook_targets = []
    async with WebhookBotInstance(server, f"sqlite:///{tmp_path}/w.db", petition) as instance:
        server.webhook_targets = [instance.url]

        calls = []

        async def broken(*args: object, **kwargs: object) -> object:
            calls.append(args)
            raise RuntimeError("handler failed")

        monkeypatch.setattr(instance.storage, "load", broken)
        update = {"update_id": 777_001, **raw_message(8202, "/status")}
        headers = {"X-Telegram-Bot-Api-Secret-Token": WebhookBotInstance.SECRET}
        statuses = []
        async with aiohttp.ClientSession() as session:
            for _ in range(2):  # the update, then Telegram's copy of it
                async with session.post(instance.url, json=update, headers=headers) as response:
                    statuses.append(response.status)
                await asyncio.sleep(0.2)  # the done mark is written a moment later
    assert statuses == [200, 200]
    assert len(calls) == 1  # the copy found the update done and was not handled again
