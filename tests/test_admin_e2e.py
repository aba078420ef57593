"""Admins change the live petition; everyone else cannot even tell the commands exist."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.petition import Petition
from storage import open_storage
from tests.bidi import unisolated
from tests.fakes import FakeBotAPI
from tests.harness import BotInstance

ADMIN = 777001


@pytest.fixture
async def bot(
    server: FakeBotAPI, database_url: str, petition: Petition
) -> AsyncIterator[BotInstance]:
    async with BotInstance(server, database_url, petition, admin_ids=str(ADMIN)) as instance:
        yield instance


async def test_non_admins_get_no_hint_and_are_audited(server: FakeBotAPI, bot: BotInstance) -> None:
    mallory = server.user(777002, "Mallory")
    for command in ("/pause", "/goal 5", "/resume@petition_test_bot"):
        await mallory.send(command)
        assert "I don't know that command" in unisolated(mallory.last)
    await mallory.send("/start")
    assert "Sign the petition" in " ".join(mallory.button_texts)  # nothing was paused
    entries = await bot.storage.audit_entries(bot.petition.id)
    assert [(entry.action, entry.allowed) for entry in reversed(entries)] == [
        ("pause", False),
        ("goal", False),
        ("resume", False),
    ]
    assert all(entry.user_id == 777002 for entry in entries)


async def test_admin_changes_goal_and_pauses_for_every_instance(
    server: FakeBotAPI, bot: BotInstance, database_url: str, petition: Petition
) -> None:
    admin, ada = server.user(ADMIN, "Admin"), server.user(777003, "Ada")
    await admin.send("/goal")
    assert "for example /goal 100000" in unisolated(
        admin.last
    ) and "The current goal is 50" in unisolated(admin.last)
    await admin.send("/goal 12345")
    assert "Goal set to 12,345" in unisolated(admin.last)
    await ada.send("/start")
    assert "next goal: 12,345" in unisolated(ada.last)
    await admin.send("/pause")
    assert "Signing is paused" in unisolated(admin.last)
    await ada.send("/start")
    assert "paused" in unisolated(ada.last) and not ada.last_message.get("reply_markup")
    other_instance = open_storage(database_url)  # the pause is stored: every instance sees it
    await other_instance.open()
    try:
        record = await other_instance.load(petition.id, 1)
        assert (record.paused, record.goal) == (True, 12345)
    finally:
        await other_instance.close()
    await admin.send("/resume")
    assert "Signing is open again" in unisolated(admin.last)
    await ada.send("/start")
    assert "Sign the petition" in " ".join(ada.button_texts)
    entries = await bot.storage.audit_entries(bot.petition.id)
    assert [(entry.action, entry.detail, entry.allowed) for entry in reversed(entries)] == [
        ("goal", "", True),  # asking how to use a command is an admin action too
        ("goal", "12345", True),
        ("pause", "", True),
        ("resume", "", True),
    ]


async def test_admin_menu_only_in_the_admins_chat(server: FakeBotAPI, bot: BotInstance) -> None:
    scoped = [
        call
        for call in server.calls_for("setMyCommands")
        if call.params.get("scope", {}).get("type") == "chat"
    ]
    assert [int(call.params["scope"]["chat_id"]) for call in scoped] == [ADMIN]
    assert "goal" in [command["command"] for command in scoped[0].params["commands"]]
    public = [
        call
        for call in server.calls_for("setMyCommands")
        if call.params.get("scope", {}).get("type") == "all_private_chats"
    ]
    for call in public:
        assert "goal" not in [command["command"] for command in call.params["commands"]]


async def test_every_admin_command_is_invisible_to_others(
    server: FakeBotAPI, bot: BotInstance
) -> None:
    commands = sorted(bot.application.bot_data.admin_commands)  # type: ignore[union-attr]
    assert {"stats", "export", "report", "broadcast", "broadcast_status", "broadcast_stop"} <= set(
        commands
    )
    mallory = server.user(777004, "Mallory")
    for command in commands:
        await mallory.send(f"/{command} 1")
        assert "I don't know that command" in unisolated(mallory.last), command
    assert not mallory.documents and not mallory.photos
    entries = await bot.storage.audit_entries(bot.petition.id)
    assert sorted((entry.action, entry.allowed) for entry in entries) == [
        (command, False) for command in commands
    ]
