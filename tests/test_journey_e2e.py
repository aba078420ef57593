"""Supporters sign through the real bot, talking to our fake Bot API over HTTP on localhost."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.petition import Petition
from storage.sqlite import SQLiteStorage
from tests.bidi import unisolated
from tests.conftest import make_petition
from tests.fakes import FakeBotAPI, FakeUser
from tests.harness import BotInstance, raw_message

TITLE = "Protect prisoners of conscience"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/e2e.db"


@pytest.fixture
async def bot(
    server: FakeBotAPI, database_url: str, petition: Petition
) -> AsyncIterator[BotInstance]:
    async with BotInstance(server, database_url, petition) as instance:
        yield instance


async def sign_up_to_preview(
    user: FakeUser, country: str = "Canada", *, start: str = "/start"
) -> None:
    await user.send(start)
    await user.press("Sign the petition")
    await user.press(country)
    await user.press("or older")
    await user.press("I agree")
    await user.press("Use this name")
    assert "Please check your signature" in unisolated(user.last)


async def signature_rows(bot: BotInstance) -> list[tuple]:
    storage = bot.storage
    assert isinstance(storage, SQLiteStorage)
    async with storage._read_db.execute(
        "SELECT user_id, number, name, country, wants_updates, guardian_consent, text_version, "
        "referred_by, referral_code FROM signatures ORDER BY number"
    ) as cursor:
        return list(await cursor.fetchall())


async def test_alice_signs_from_start_to_finish(server: FakeBotAPI, bot: BotInstance) -> None:
    alice = server.user(1001, "Alice", "Example")
    await alice.send("/start")
    assert TITLE in unisolated(alice.last)
    assert "0 people have signed" in unisolated(alice.last)
    assert "🇨🇦 Canada" in unisolated(alice.last)  # addressed governments, with CLDR names
    await alice.press("Read the demands")
    assert "1. First demand." in unisolated(alice.last) and "3. Third demand." in unisolated(
        alice.last
    )
    assert "China Tribunal" in unisolated(alice.last)
    await alice.press("Sign the petition")
    assert "Where do you live?" in unisolated(alice.last)
    await alice.press("Canada")
    assert "under 16" in unisolated(alice.last)
    await alice.press("I am 16 or older")
    assert "Your name and country are recorded" in unisolated(alice.last)
    assert "⬜ Send me updates" in alice.button_texts[0]
    await alice.press("Send me updates")
    assert "☑️ Send me updates" in alice.button_texts[0]
    await alice.press("I agree")
    assert "Alice Example" in unisolated(alice.last)
    await alice.press("Use this name")
    assert "Name: Alice Example" in unisolated(alice.last)
    assert "Country: 🇨🇦 Canada" in unisolated(alice.last)
    assert "Updates by Telegram: yes" in unisolated(alice.last)
    await alice.press("Sign now")
    assert "You are signer #1." in unisolated(alice.last)
    assert "1 person has signed · next goal: 50" in unisolated(alice.last)
    assert "https://t.me/petition_test_bot?start=r_" in unisolated(alice.last)
    # Button presses edit one message in place: the whole journey is a single bot message.
    assert len(alice.messages) == 1
    rows = await signature_rows(bot)
    assert len(rows) == 1
    user_id, number, name, country, updates, guardian, version, referred_by, _code = rows[0]
    assert (user_id, number, name, country) == (1001, 1, "Alice Example", "CA")
    assert (updates, guardian, version, referred_by) == (1, 0, "2026-11-01", None)


async def test_returning_signer_cannot_sign_twice(server: FakeBotAPI, bot: BotInstance) -> None:
    alice = server.user(1002, "Alice")
    await sign_up_to_preview(alice)
    await alice.press("Sign now")
    await alice.send("/start")
    assert "You signed this petition on November 23, 2026" in unisolated(alice.last)
    assert "as signer #1" in unisolated(alice.last)
    await alice.send("/cancel")
    assert "as signer #1" in unisolated(alice.last)
    assert len(await signature_rows(bot)) == 1


async def test_double_tap_on_sign_records_one_signature(
    server: FakeBotAPI, bot: BotInstance
) -> None:
    alice = server.user(1003, "Alice")
    await sign_up_to_preview(alice)
    await asyncio.gather(alice.press("Sign now"), alice.press("Sign now", expect_reply=False))
    rows = await signature_rows(bot)
    assert [row[1] for row in rows] == [1]
    assert await bot.storage.total(bot.petition.id) == 1
    assert "signer #1" in unisolated(alice.last)


async def test_bob_goes_back_and_restarts(server: FakeBotAPI, bot: BotInstance) -> None:
    bob = server.user(1004, "Bob")
    await bob.send("/start")
    await bob.press("Sign the petition")
    await bob.press("Back")
    assert "We ask the governments to" in unisolated(bob.last)
    await bob.press("Back")
    assert TITLE in unisolated(bob.last)
    await bob.press("Sign the petition")
    await bob.press("United Kingdom")
    await bob.press("Back")
    assert "Where do you live?" in unisolated(bob.last)
    await bob.press("United Kingdom")
    await bob.press("or older")
    await bob.send("/start")
    assert "Welcome back" in unisolated(bob.last)
    await bob.press("Continue where I left off")
    assert "Before you sign" in unisolated(bob.last)
    await bob.send("/cancel")
    assert "Cancelled. Nothing has been recorded." in unisolated(bob.last)
    assert "Continue where I left off" not in bob.button_texts
    assert await signature_rows(bot) == []


async def test_carol_resumes_after_the_bot_restarts(
    server: FakeBotAPI, database_url: str, petition: Petition
) -> None:
    carol = server.user(1005, "Carol", "Jones")
    async with BotInstance(server, database_url, petition):
        await carol.send("/start")
        await carol.press("Sign the petition")
        await carol.press("Australia")
        await carol.press("or older")
        assert "Before you sign" in unisolated(carol.last)
    async with BotInstance(server, database_url, petition) as restarted:
        # Days later, she presses the button on the message she left open.
        await carol.press("I agree")
        assert "Carol Jones" in unisolated(carol.last)
        await carol.press("Use this name")
        await carol.press("Sign now")
        assert "You are signer #1." in unisolated(carol.last)
        rows = await signature_rows(restarted)
        assert rows[0][3] == "AU"


async def test_two_supporters_interleaved(server: FakeBotAPI, bot: BotInstance) -> None:
    alice, dave = server.user(1006, "Alice"), server.user(1007, "Dave")
    await alice.send("/start")
    await dave.send("/start")
    await alice.press("Sign the petition")
    await dave.press("Sign the petition")
    await dave.press("New Zealand")
    await alice.press("United States")
    assert "under 13" in unisolated(alice.last) and "under 16" in unisolated(dave.last)
    for user in (dave, alice):
        await user.press("or older")
    for user in (alice, dave):
        await user.press("I agree")
    await dave.press("Use this name")
    await alice.press("Use this name")
    await dave.press("Sign now")
    await alice.press("Sign now")
    assert "signer #1" in unisolated(dave.last) and "signer #2" in unisolated(alice.last)
    assert "2 people have signed" in unisolated(alice.last)
    assert [row[3] for row in await signature_rows(bot)] == ["NZ", "US"]
    assert await bot.storage.country_counts(bot.petition.id) == {"NZ": 1, "US": 1}


async def test_erin_is_under_age(server: FakeBotAPI, bot: BotInstance) -> None:
    erin = server.user(1008, "Erin")
    await erin.send("/start")
    await erin.press("Sign the petition")
    await erin.press("United States")
    await erin.press("younger than 13")
    assert "parent or guardian" in unisolated(erin.last)
    await erin.press("Not now")
    assert "nothing has been recorded" in unisolated(erin.last)
    await erin.press("Start again")
    assert TITLE in unisolated(erin.last)
    await erin.press("Sign the petition")
    await erin.press("United States")
    await erin.press("younger than 13")
    await erin.press("My parent or guardian agrees")
    await erin.press("I agree")
    await erin.press("Use this name")
    assert "parent's or guardian's consent" in unisolated(erin.last)
    await erin.press("Sign now")
    rows = await signature_rows(bot)
    assert rows[0][5] == 1  # guardian consent recorded


async def test_country_search_by_typing(server: FakeBotAPI, bot: BotInstance) -> None:
    frank = server.user(1009, "Frank")
    await frank.send("/start")
    await frank.press("Sign the petition")
    await frank.press("Another country")
    assert "Type the name of your country" in unisolated(frank.last)
    await frank.send("germ")
    assert "Germany" in " ".join(frank.button_texts)
    await frank.send("Atlantis")
    assert "No country matches “Atlantis”" in unisolated(frank.last)
    await frank.send("<b>Atlantis</b>")  # typed HTML is shown escaped, never parsed
    assert "No country matches “<b>Atlantis</b>”" in unisolated(frank.last)
    await frank.send("germ")
    await frank.press("Germany")
    assert "In Germany, people under 16" in unisolated(frank.last)


async def test_name_is_validated_and_can_be_typed(server: FakeBotAPI, bot: BotInstance) -> None:
    grace = server.user(1010, "🙂")  # a profile name that is not a usable signature name
    await grace.send("/start")
    await grace.press("Sign the petition")
    await grace.press("Canada")
    await grace.press("or older")
    await grace.press("I agree")
    assert "Please type the name" in unisolated(grace.last)
    await grace.send("see https://spam.example.com")
    assert "can't contain links" in unisolated(grace.last)
    await grace.send("x" * 4096)
    assert "too long" in unisolated(grace.last)
    await grace.send("Grace <Hopper> & co")
    # Escaped, and isolated: a name keeps its own direction in any sentence.
    assert "Name: \u2068Grace &lt;Hopper&gt; &amp; co\u2069" in grace.last_html
    await grace.press("Sign now")
    assert (await signature_rows(bot))[0][2] == "Grace <Hopper> & co"


async def test_referral_is_recorded_with_the_signature(
    server: FakeBotAPI, bot: BotInstance
) -> None:
    heidi, ivan = server.user(1011, "Heidi"), server.user(1012, "Ivan")
    await sign_up_to_preview(heidi)
    await heidi.press("Sign now")
    code = (await signature_rows(bot))[0][8]
    assert f"start=r_{code}" in unisolated(heidi.last)
    await ivan.send(f"/start r_{code}")
    await sign_up_to_preview(ivan)  # its own /start keeps the first referrer
    await ivan.press("Sign now")
    rows = await signature_rows(bot)
    assert rows[1][7] == code
    await heidi.send("/mylink")
    assert f"start=r_{code}" in unisolated(heidi.last)
    assert "1 person has signed through your link so far." in unisolated(heidi.last)
    await ivan.send("/mylink")
    assert "0 people have signed through your link" in unisolated(ivan.last)
    judy = server.user(1018, "Judy")
    await judy.send("/mylink")
    assert "Sign the petition first" in unisolated(judy.last)


async def test_an_own_old_link_after_withdrawing_is_no_referral(
    server: FakeBotAPI, bot: BotInstance
) -> None:
    mallory = server.user(1019, "Mallory")
    await sign_up_to_preview(mallory)
    await mallory.press("Sign now")
    old_code = (await signature_rows(bot))[0][8]
    await mallory.send("/withdraw")
    await mallory.press("Yes, withdraw")
    await mallory.send(f"/start r_{old_code}")  # her own link, from before
    await sign_up_to_preview(mallory)
    await mallory.press("Sign now")
    rows = await signature_rows(bot)
    assert len(rows) == 1 and rows[0][7] is None  # signed again, referred by nobody
    assert await bot.storage.referral_count(bot.petition.id, old_code) == 0
    assert (await bot.storage.overview(bot.petition.id)).referred == 0


async def test_information_commands(server: FakeBotAPI, bot: BotInstance) -> None:
    judy = server.user(1013, "Judy")
    await judy.send("/help")
    assert "/status" in unisolated(judy.last) and "/privacy" in unisolated(judy.last)
    await judy.send("/status")
    assert "0 people have signed" in unisolated(judy.last) and "not signed yet" in unisolated(
        judy.last
    )
    await judy.send("/privacy")
    assert "We keep your Telegram id" in unisolated(judy.last)
    await judy.send("/frobnicate")
    assert "I don't know that command" in unisolated(judy.last)


async def test_command_menu_is_set_for_private_chats(server: FakeBotAPI, bot: BotInstance) -> None:
    calls = server.calls_for("setMyCommands")
    assert calls, "no command menu was set"
    commands = [command["command"] for command in calls[0].params["commands"]]
    assert commands == [
        "start",
        "status",
        "privacy",
        "language",
        "mylink",
        "mydata",
        "withdraw",
        "help",
        "cancel",
    ]
    assert calls[0].params["scope"]["type"] == "all_private_chats"


async def test_closed_petition_explains_and_refuses(server: FakeBotAPI, database_url: str) -> None:
    paused = make_petition(paused=True)
    async with BotInstance(server, database_url, paused):
        kim = server.user(1014, "Kim")
        await kim.send("/start")
        assert "paused" in unisolated(kim.last)
        assert "0 people have signed" in unisolated(kim.last)
        assert kim.button_texts == []
        await kim.press_data("preview:sign", message_id=kim.last_message["message_id"])
        assert "paused" in unisolated(kim.last)
    ended = make_petition(deadline="2020-01-01T00:00:00Z")
    async with BotInstance(server, database_url, ended) as instance:
        lee = server.user(1015, "Lee")
        await lee.send("/start")
        assert "closed on January 1, 2020" in unisolated(lee.last)
        assert await signature_rows(instance) == []


async def test_group_chat_points_to_a_private_chat(server: FakeBotAPI, bot: BotInstance) -> None:
    mia = server.user(1016, "Mia")
    group = {"id": -100123, "type": "supergroup", "title": "Friends"}
    # The reply goes to the group, and only says where to sign.
    await mia.send_raw(raw_message(1016, "/start@petition_test_bot", chat=group))
    replies = server.replies_to(-100123)
    assert len(replies) == 1 and "open a private chat" in replies[0]


async def test_countries_with_an_ampersand_in_their_name(
    server: FakeBotAPI, bot: BotInstance
) -> None:
    """ "Bosnia & Herzegovina" must reach Telegram as valid HTML on every screen."""
    nadia = server.user(1017, "Nadia")
    await nadia.send("/start")
    await nadia.press("Sign the petition")
    await nadia.send("Bosnia")
    await nadia.press("Bosnia & Herzegovina")
    assert "In Bosnia & Herzegovina, people under 16" in unisolated(nadia.last)
    await nadia.press("or older")
    await nadia.press("I agree")
    await nadia.press("Use this name")
    assert "Country: 🇧🇦 Bosnia & Herzegovina" in unisolated(nadia.last)
    await nadia.press("Sign now")
    await nadia.send("/status")
    assert "Bosnia & Herzegovina: 1" in unisolated(nadia.last)
    await nadia.send("/mydata")
    assert "Bosnia & Herzegovina" in unisolated(nadia.last)
