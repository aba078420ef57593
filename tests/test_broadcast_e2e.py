"""/broadcast end to end: admin command in, one message per opted-in signer out (fake Bot API).

Runs on SQLite and PostgreSQL. Signers are written straight into storage (the journey has its
own tests); their chats are made known to the fake Telegram, which records every call with
its time, so pacing and pauses are checked on those timestamps, never on wall time.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from datetime import timedelta

import pytest

from bot import broadcasting
from bot.petition import Petition
from storage.base import Storage
from storage.records import BroadcastState, Delivery, Journey, Step
from tests.bidi import unisolated
from tests.conftest import NOW, execute_raw, signature_request
from tests.fakes import FakeBotAPI, FakeUser
from tests.fakes.bot_api import Call
from tests.harness import BotInstance

ADMIN = 777201
SECOND_ADMIN = 777202
ADMINS = f"{ADMIN},{SECOND_ADMIN}"
SIGNED = Journey(step=Step.SIGNED)
SUPPORTERS = range(900_001, 900_006)


@pytest.fixture(autouse=True)
def quick_sender(monkeypatch: pytest.MonkeyPatch) -> None:
    """Quick polls and a short lease, so takeovers happen within a test's patience."""
    monkeypatch.setattr(broadcasting, "POLL_SECONDS", 0.1)
    monkeypatch.setattr(broadcasting, "LEASE", timedelta(seconds=1))


@pytest.fixture
async def bot(
    server: FakeBotAPI, database_url: str, petition: Petition
) -> AsyncIterator[BotInstance]:
    async with BotInstance(server, database_url, petition, admin_ids=ADMINS) as instance:
        yield instance


async def add_signers(
    server: FakeBotAPI,
    storage: Storage,
    petition: Petition,
    user_ids: Iterable[int],
    *,
    wants_updates: bool = True,
) -> None:
    for user_id in user_ids:
        server.register_chat(server.user(user_id, f"Supporter {user_id}").chat)
        request = signature_request(petition.id, user_id, wants_updates=wants_updates)
        await storage.sign(request, SIGNED)


def sends_to(server: FakeBotAPI, chat_id: int) -> list[Call]:
    return [call for call in server.calls_for("sendMessage") if call.params["chat_id"] == chat_id]


def received(server: FakeBotAPI, chat_id: int) -> list[str]:
    return [call.params["text"] for call in sends_to(server, chat_id) if call.ok]


async def compose(admin_user: FakeUser, text: str) -> int:
    """/broadcast from this admin; check the preview and the question; the draft's id."""
    before = len(admin_user.server.replies_to(admin_user.chat_id))
    await admin_user.send(f"/broadcast {text}", replies=2)
    preview, question = admin_user.server.replies_to(admin_user.chat_id)[before : before + 2]
    assert preview == text
    assert "Send this to about" in question
    assert admin_user.button_texts == ["Send", "Cancel"]
    data = admin_user.last_message["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    match = re.fullmatch(r"bc:send:(\d+)", data)
    assert match is not None
    return int(match.group(1))


async def finished(server: FakeBotAPI, words: str = "is finished", within: float = 15) -> str:
    """The admin's final summary, once it arrives."""

    def summary() -> str | None:
        texts = (unisolated(text) for text in server.replies_to(ADMIN))
        return next((text for text in texts if words in text), None)

    await server.wait_until(lambda: summary() is not None, within)
    text = summary()
    assert text is not None
    return text


async def deliveries(storage: Storage) -> dict[int, str]:
    rows = await execute_raw(storage, "SELECT user_id, state FROM broadcast_deliveries")
    return {int(user_id): str(state) for user_id, state in rows}


async def test_preview_confirm_and_each_opted_in_signer_gets_it_once(
    server: FakeBotAPI, bot: BotInstance
) -> None:
    storage, petition = bot.storage, bot.petition
    opted_in, silent, blocked = [900_001, 900_002, 900_003], 900_004, 900_005
    await add_signers(server, storage, petition, opted_in)
    await add_signers(server, storage, petition, [silent], wants_updates=False)
    await add_signers(server, storage, petition, [blocked])
    await storage.set_blocked(petition.id, blocked, NOW)
    admin_user = server.user(ADMIN, "Admin")
    await admin_user.send("/broadcast")
    assert "Send /broadcast followed by your message" in unisolated(admin_user.last)

    # Bold and line breaks are kept: the command's text goes out as HTML.
    text = "/broadcast Big news\nWe reached 10 & more"
    await admin_user.send_raw(
        {
            "message": {
                "text": text,
                "entities": [
                    {"type": "bot_command", "offset": 0, "length": 10},
                    {"type": "bold", "offset": 11, "length": 3},
                ],
            }
        }
    )
    await admin_user.wait_for_replies(3)
    preview = sends_to(server, ADMIN)[-2]
    assert preview.params["text"] == "<b>Big</b> news\nWe reached 10 &amp; more"
    assert "Send this to about 4 supporters who asked for updates?" in unisolated(admin_user.last)
    await admin_user.press("Send")
    assert "Sending to about 4 supporters" in unisolated(admin_user.last)
    summary = await finished(server)
    assert "Sent 3 of about 4 · 0 blocked · 0 failed · 0 unknown" in summary
    for user_id in opted_in:
        assert received(server, user_id) == [preview.params["text"]]
        assert sends_to(server, user_id)[0].params.get("parse_mode") == "HTML"
    assert sends_to(server, silent) == [] and sends_to(server, blocked) == []
    assert await deliveries(storage) == dict.fromkeys(opted_in, "sent")
    entries = await storage.audit_entries(petition.id)
    assert [(entry.action, entry.allowed) for entry in reversed(entries)] == [
        ("broadcast", True),
        ("broadcast", True),
        ("broadcast_send", True),
    ]
    assert entries[0].detail == "1"

    await admin_user.send("/broadcast_status")
    assert "Broadcast #1 of" in unisolated(admin_user.last) and "is finished" in unisolated(
        admin_user.last
    )
    assert "“Big news We reached 10 & more”" in unisolated(admin_user.last)
    assert "Sent 3 of about 4 · 0 blocked · 0 failed · 0 unknown" in unisolated(admin_user.last)


async def test_cancel_sends_nothing(server: FakeBotAPI, bot: BotInstance) -> None:
    await add_signers(server, bot.storage, bot.petition, SUPPORTERS)
    admin_user = server.user(ADMIN, "Admin")
    broadcast_id = await compose(admin_user, "Never mind")
    question = admin_user.last_message["message_id"]
    await admin_user.press("Cancel")
    assert (
        unisolated(admin_user.last) == "Cancelled: nothing was sent." and admin_user.buttons == []
    )
    answer = await admin_user.press_data(
        f"bc:send:{broadcast_id}", message_id=question, expect_reply=False
    )
    assert answer.get("text") == "This broadcast was cancelled."
    await server.user(SUPPORTERS[0]).expect_silence(0.5)
    assert all(sends_to(server, user_id) == [] for user_id in SUPPORTERS)
    found = await bot.storage.get_broadcast(broadcast_id)
    assert found is not None and found.state is BroadcastState.CANCELLED
    await admin_user.send("/broadcast_status")
    assert unisolated(admin_user.last) == "No broadcast yet."
    actions = [entry.action for entry in await bot.storage.audit_entries(bot.petition.id)]
    assert actions[:3] == ["broadcast_status", "broadcast_send", "broadcast_cancel"]


async def test_double_tap_and_second_admin_start_it_once(
    server: FakeBotAPI, bot: BotInstance
) -> None:
    await add_signers(server, bot.storage, bot.petition, SUPPORTERS)
    admin_user, other = server.user(ADMIN, "Admin"), server.user(SECOND_ADMIN, "Other")
    broadcast_id = await compose(admin_user, "Once only")
    question = admin_user.last_message["message_id"]
    data = f"bc:send:{broadcast_id}"
    answers = await asyncio.gather(
        admin_user.press_data(data, message_id=question, expect_reply=False),
        admin_user.press_data(data, message_id=question, expect_reply=False),
    )
    assert sorted(str(answer.get("text")) for answer in answers) == [
        "None",
        "This broadcast has already started. /broadcast_stop stops it.",
    ]
    await other.send("/start")  # a keyboard to press forged data on
    answer = await other.press_data(data, expect_reply=False)
    assert answer.get("text") == "This broadcast has already started. /broadcast_stop stops it."
    await finished(server)
    assert all(len(received(server, user_id)) == 1 for user_id in SUPPORTERS)


async def test_non_admins_cannot_broadcast_nor_press_send(
    server: FakeBotAPI, bot: BotInstance
) -> None:
    await add_signers(server, bot.storage, bot.petition, SUPPORTERS)
    mallory = server.user(777203, "Mallory")
    await mallory.send("/broadcast Buy my coin")
    assert "I don't know that command" in unisolated(mallory.last)
    await mallory.send("/broadcast_stop")
    assert "I don't know that command" in unisolated(mallory.last)
    entries = await bot.storage.audit_entries(bot.petition.id)
    assert [(e.user_id, e.action, e.detail, e.allowed) for e in reversed(entries)] == [
        (777203, "broadcast", "Buy my coin", False),
        (777203, "broadcast_stop", "", False),
    ]

    admin_user = server.user(ADMIN, "Admin")
    broadcast_id = await compose(admin_user, "Real news")
    await mallory.send("/start")
    answer = await mallory.press_data(f"bc:send:{broadcast_id}")  # the stale-button answer
    assert "broadcast" not in str(answer.get("text", "")).casefold()
    await server.user(SUPPORTERS[0]).expect_silence(0.5)
    found = await bot.storage.get_broadcast(broadcast_id)
    assert found is not None and found.state is BroadcastState.DRAFT
    assert all(sends_to(server, user_id) == [] for user_id in SUPPORTERS)


async def test_a_supporter_who_blocked_the_bot_is_marked_and_skipped_next_time(
    server: FakeBotAPI, bot: BotInstance
) -> None:
    storage, petition = bot.storage, bot.petition
    await add_signers(server, storage, petition, SUPPORTERS)
    gone = SUPPORTERS[1]
    server.block(gone)
    admin_user = server.user(ADMIN, "Admin")
    await compose(admin_user, "First")
    await admin_user.press("Send")
    summary = await finished(server)
    assert "Sent 4 of about 5 · 1 blocked · 0 failed · 0 unknown" in summary
    assert (await storage.load(petition.id, gone)).blocked
    assert [call.ok for call in sends_to(server, gone)] == [False]

    await compose(admin_user, "Second")
    await admin_user.press("Send")
    await server.wait_until(lambda: sum("is finished" in r for r in server.replies_to(ADMIN)) == 2)
    assert len(sends_to(server, gone)) == 1  # not tried again
    assert all(received(server, user_id) == ["First", "Second"] for user_id in SUPPORTERS[::2])


async def test_flood_control_is_waited_out_and_the_message_sent_once(
    server: FakeBotAPI, bot: BotInstance
) -> None:
    await add_signers(server, bot.storage, bot.petition, SUPPORTERS)
    slowed = SUPPORTERS[2]
    server.fail_next("sendMessage", status=429, retry_after=1, chat_id=slowed)
    admin_user = server.user(ADMIN, "Admin")
    await compose(admin_user, "Patience")
    await admin_user.press("Send")
    summary = await finished(server)
    assert "Sent 5 of about 5 · 0 blocked · 0 failed · 0 unknown" in summary
    refused, delivered = sends_to(server, slowed)
    assert refused.response["error_code"] == 429 and delivered.ok
    assert delivered.at - refused.at >= 1.0
    assert received(server, slowed) == ["Patience"]
    assert all(received(server, user_id) == ["Patience"] for user_id in SUPPORTERS)


async def test_the_configured_rate_reaches_the_sender_and_everyone_gets_it_once(
    server: FakeBotAPI, database_url: str, petition: Petition
) -> None:
    """The pacing itself is tested without clocks (test_broadcast: SendSchedule)."""
    rate, recipients = 30, range(910_001, 910_046)
    async with BotInstance(
        server, database_url, petition, admin_ids=ADMINS, broadcast_rate=rate
    ) as instance:
        assert instance.application is not None
        sender = instance.application.bot_data.broadcast_senders[petition.id]
        assert sender.schedule.interval == pytest.approx(1 / rate)
        await add_signers(server, instance.storage, petition, recipients)
        admin_user = server.user(ADMIN, "Admin")
        await compose(admin_user, "Paced")
        await admin_user.press("Send")
        await finished(server)
    delivered = [
        call.params["chat_id"]
        for call in server.calls_for("sendMessage")
        if call.params["chat_id"] in recipients and call.ok
    ]
    assert sorted(delivered) == list(recipients)


async def test_broadcast_stop_stops_it_promptly(
    server: FakeBotAPI, database_url: str, petition: Petition, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(broadcasting, "MIN_BATCH", 5)
    monkeypatch.setattr(broadcasting, "BATCH_SECONDS", 0.1)  # batches of 5: stops within 5
    async with BotInstance(server, database_url, petition, admin_ids=ADMINS) as bot:
        await _stop_midway(server, bot)


async def _stop_midway(server: FakeBotAPI, bot: BotInstance) -> None:
    recipients = range(920_001, 920_041)
    await add_signers(server, bot.storage, bot.petition, recipients)
    admin_user = server.user(ADMIN, "Admin")
    await admin_user.send("/broadcast_stop")
    assert unisolated(admin_user.last) == "No broadcast is being sent right now."
    await compose(admin_user, "Stop me")
    await admin_user.press("Send")
    await server.wait_until(lambda: sum(bool(received(server, u)) for u in recipients) >= 3)
    await admin_user.send("/broadcast Another one")
    assert "A broadcast is being sent right now" in unisolated(admin_user.last)
    await admin_user.send("/broadcast_stop")
    assert "Broadcast #1 is stopped" in unisolated(admin_user.last)
    summary = await finished(server, "was stopped")
    got = [user_id for user_id in recipients if received(server, user_id)]
    assert all(len(received(server, user_id)) == 1 for user_id in got)
    assert len(got) < len(recipients)
    assert f"Sent {len(got)} of about 40" in summary
    await server.user(recipients[-1]).expect_silence(0.5)  # not resumed
    found = await bot.storage.latest_broadcast(bot.petition.id)
    assert found is not None and found.state is BroadcastState.STOPPED
    await admin_user.send("/broadcast_status")
    assert "Broadcast #1 of" in unisolated(admin_user.last) and "was stopped" in unisolated(
        admin_user.last
    )
    assert f"Sent {len(got)} of about 40" in unisolated(admin_user.last)
    await admin_user.send("/broadcast_stop")
    assert unisolated(admin_user.last) == "No broadcast is being sent right now."


async def test_too_long_is_refused(server: FakeBotAPI, bot: BotInstance) -> None:
    admin_user = server.user(ADMIN, "Admin")
    await admin_user.send("/broadcast " + "x" * 4097)
    assert "too long for Telegram: 4,097 characters, at most 4,096" in unisolated(admin_user.last)
    assert await bot.storage.latest_broadcast(bot.petition.id) is None


async def test_a_crashed_sender_is_taken_over_and_nobody_gets_it_twice(
    server: FakeBotAPI, database_url: str, petition: Petition
) -> None:
    recipients = range(930_001, 930_041)
    first = await BotInstance(server, database_url, petition, admin_ids=ADMINS).start()
    try:
        await add_signers(server, first.storage, petition, recipients)
        admin_user = server.user(ADMIN, "Admin")
        await compose(admin_user, "Survive this")
        await admin_user.press("Send")
        await server.wait_until(lambda: sum(bool(received(server, u)) for u in recipients) >= 15)
        assert first.application is not None
        sender = first.application.bot_data.broadcast_senders.get(petition.id)
        assert sender is not None and sender.task is not None
        sender.task.cancel()  # the process dies here: its lease is not handed on
        await asyncio.gather(sender.task, return_exceptions=True)
    finally:
        await first.stop()
    cut_short = len([u for u in recipients if received(server, u)])
    assert cut_short < len(recipients)

    async with BotInstance(server, database_url, petition, admin_ids=ADMINS) as second:
        summary = await finished(server)
        states = await deliveries(second.storage)
    assert "after it was resumed" in summary
    counts: dict[str, int] = dict(Counter(states.values()))
    unknown = [user_id for user_id, state in states.items() if state == Delivery.SENDING.value]
    assert len(unknown) <= 1  # at most the one being handed over at the crash
    assert counts.get("sent", 0) + len(unknown) == len(recipients)
    assert f"{len(unknown)} unknown" in summary
    for user_id in recipients:
        got = len(received(server, user_id))
        assert got == 1 or (got == 0 and user_id in unknown), (user_id, got)


async def test_a_restart_hands_the_broadcast_on_at_once(
    server: FakeBotAPI, database_url: str, petition: Petition, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(broadcasting, "LEASE", timedelta(minutes=10))  # only a handover helps
    recipients = range(940_001, 940_041)
    async with BotInstance(server, database_url, petition, admin_ids=ADMINS) as first:
        await add_signers(server, first.storage, petition, recipients)
        admin_user = server.user(ADMIN, "Admin")
        await compose(admin_user, "Rolling deploy")
        await admin_user.press("Send")
        await server.wait_until(lambda: sum(bool(received(server, u)) for u in recipients) >= 10)
    assert len([u for u in recipients if received(server, u)]) < len(recipients)

    async with BotInstance(server, database_url, petition, admin_ids=ADMINS) as second:
        summary = await finished(server)
        states = await deliveries(second.storage)
    assert "after it was resumed" in summary
    unknown = [user_id for user_id, state in states.items() if state == Delivery.SENDING.value]
    assert len(unknown) <= 1  # only a call cut off by the shutdown itself
    for user_id in recipients:
        got = len(received(server, user_id))
        assert got == 1 or (got == 0 and user_id in unknown), (user_id, got)
