"""One bot, several petitions: deep links, the chooser, separate counts, one supporter in each.

Through the real bot and the fake Bot API, on both backends.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from bot import broadcasting
from bot.petition import Petition
from bot.petitions import Catalog, load_petitions
from bot.public import bound_port
from bot.reloading import reload_petitions
from bot.settings import PROJECT_ROOT
from storage.records import Journey, Step
from tests.bidi import unisolated
from tests.clock import NOW
from tests.conftest import make_petition, petition_data, signature_request
from tests.fakes import FakeBotAPI, FakeUser
from tests.harness import BotInstance, WebhookBotInstance

FIRST, SECOND, OLD = "test-petition", "second-petition", "old-petition"
FIRST_TITLE = "Protect prisoners of conscience"
SECOND_TITLE = "Open the archives"
OLD_TITLE = "An earlier campaign"
ADMIN = 880001


def _petition(petition_id: str, title: str, **overrides: object) -> Petition:
    text = petition_data()["text"]
    text["en"] = {**text["en"], "title": title}
    return make_petition(id=petition_id, text=text, **overrides)


CATALOG = Catalog(
    (
        _petition(OLD, OLD_TITLE, deadline=(NOW - timedelta(days=30)).date().isoformat()),
        _petition(FIRST, FIRST_TITLE),
        _petition(SECOND, SECOND_TITLE),
    )
)


@pytest.fixture
async def bot(server: FakeBotAPI, database_url: str) -> AsyncIterator[BotInstance]:
    async with BotInstance(
        server, database_url, CATALOG, admin_ids=str(ADMIN), public_port=0
    ) as instance:
        yield instance


async def sign_here(user: FakeUser) -> None:
    """From a petition's welcome to its signature."""
    await user.press("Sign the petition")
    await user.press("Canada")
    await user.press("or older")
    await user.press("I agree")
    await user.press("Use this name")
    await user.press("Sign now")


async def test_each_deep_link_opens_its_petition(server: FakeBotAPI, bot: BotInstance) -> None:
    alice = server.user(1, "Alice")
    await alice.send(f"/start {SECOND}")
    assert SECOND_TITLE in unisolated(alice.last) and FIRST_TITLE not in unisolated(alice.last)
    await alice.send(f"/start {FIRST}")
    assert FIRST_TITLE in unisolated(alice.last)
    await alice.send(f"/start {OLD}")
    assert "no longer accepts signatures" in unisolated(alice.last)


async def test_plain_start_offers_the_open_petitions_with_live_counts(
    server: FakeBotAPI, bot: BotInstance
) -> None:
    bob = server.user(2, "Bob")
    await bob.send(f"/start {SECOND}")
    await sign_here(bob)
    alice = server.user(1, "Alice")
    await alice.send("/start")
    assert "Which petition would you like to read?" in unisolated(alice.last)
    assert "1 person has signed" in unisolated(alice.last) and "0 people have signed" in unisolated(
        alice.last
    )
    assert OLD_TITLE not in unisolated(alice.last)
    assert [unisolated(label) for label in alice.button_texts] == [
        f"{FIRST_TITLE} · 0",
        f"{SECOND_TITLE} · 1",
        "Closed petitions (1)",
    ]
    await alice.press("Closed petitions")
    assert OLD_TITLE in unisolated(alice.last)
    await alice.press("« Open petitions")
    await alice.press(SECOND_TITLE)
    assert SECOND_TITLE in unisolated(alice.last) and "Read the demands" in " ".join(
        alice.button_texts
    )


async def test_one_supporter_signs_both_with_separate_counts_and_numbers(
    server: FakeBotAPI, bot: BotInstance
) -> None:
    for user_id in (11, 12):
        early = server.user(user_id, "Early")
        await early.send(f"/start {FIRST}")
        await sign_here(early)
    alice = server.user(1, "Alice")
    await alice.send(f"/start {SECOND}")
    await sign_here(alice)
    assert "You are signer #1." in unisolated(alice.last)
    await alice.send("/start")
    await alice.press(FIRST_TITLE)
    await sign_here(alice)
    assert "You are signer #3." in unisolated(alice.last)
    assert "3 people have signed" in unisolated(alice.last)
    storage = bot.storage
    assert (await storage.total(FIRST), await storage.total(SECOND)) == (3, 1)
    await alice.send("/mydata")
    assert FIRST_TITLE in unisolated(alice.last) and SECOND_TITLE in unisolated(alice.last)
    assert "Signature #3" in unisolated(alice.last) and "Signature #1" in unisolated(alice.last)
    # /withdraw acts on the petition she has open, and says which one it is.
    await alice.send("/withdraw")
    assert FIRST_TITLE in unisolated(alice.last) and "Withdraw your signature?" in unisolated(
        alice.last
    )
    await alice.press("Yes, withdraw")
    assert (await storage.total(FIRST), await storage.total(SECOND)) == (2, 1)


async def test_answers_go_to_the_petition_opened_last_and_buttons_to_their_own(
    server: FakeBotAPI, bot: BotInstance
) -> None:
    alice = server.user(1, "Alice")
    await alice.send(f"/start {FIRST}")
    await alice.press("Sign the petition")
    first_message = alice.last_message["message_id"]
    await alice.send(f"/start {SECOND}")
    await alice.press("Sign the petition")
    await alice.send("Germany")  # typed: the petition she opened last
    storage = bot.storage
    assert (await storage.load(SECOND, 1)).journey.step is Step.SEARCH
    assert (await storage.load(FIRST, 1)).journey.step is Step.COUNTRY
    # A button on the first petition's message still acts on the first petition...
    canada = next(
        button["callback_data"]
        for row in alice._state().messages[first_message].inline_keyboard
        for button in row
        if "Canada" in button["text"]
    )
    await alice.press_data(canada, message_id=first_message)
    assert (await storage.load(FIRST, 1)).journey.step is Step.AGE
    assert (await storage.load(SECOND, 1)).journey.step is Step.SEARCH
    # ...and moves her there: her next typed answer goes to the first petition.
    assert await storage.focus(1) == FIRST


async def test_a_share_link_opens_the_petition_it_was_made_for(
    server: FakeBotAPI, bot: BotInstance
) -> None:
    alice = server.user(1, "Alice")
    await alice.send(f"/start {SECOND}")
    await sign_here(alice)
    link = next(word for word in unisolated(alice.last).split() if "?start=r_" in word)
    payload = link.split("?start=", 1)[1]
    assert len(payload) <= 64
    carol = server.user(3, "Carol")
    await carol.send(f"/start {payload}")
    assert SECOND_TITLE in unisolated(carol.last)
    await sign_here(carol)
    assert "You are signer #2." in unisolated(carol.last)
    signature = (await bot.storage.personal_data(SECOND, 3)).signature
    assert signature is not None and signature.referred_by == payload.removeprefix("r_")


async def test_garbage_and_stale_buttons_are_answered_not_crashed(
    server: FakeBotAPI, bot: BotInstance
) -> None:
    alice = server.user(1, "Alice")
    await alice.send("/start no-such-petition")
    assert "Which petition would you like to read?" in unisolated(alice.last)
    await alice.press_data("choose:AAAAAAAA")
    assert "That button belongs to an earlier step" in unisolated(alice.last)
    assert "Which petition would you like to read?" in unisolated(alice.last)
    await alice.press_data("AAAAAAAA|intro:sign")
    assert "That button belongs to an earlier step" in unisolated(alice.last)


async def test_admins_pick_the_petition_their_commands_act_on(
    server: FakeBotAPI, bot: BotInstance
) -> None:
    admin = server.user(ADMIN, "Admin")
    await admin.send("/petitions")
    assert (
        FIRST in unisolated(admin.last)
        and SECOND in unisolated(admin.last)
        and OLD in unisolated(admin.last)
    )
    await admin.send(f"/pause {SECOND}")
    assert "Signing is paused" in unisolated(admin.last)
    await admin.send(f"/stats {SECOND}", replies=2)  # the figures, then the chart
    assert SECOND_TITLE in admin.messages[-2]["text"]
    alice = server.user(1, "Alice")
    await alice.send(f"/start {SECOND}")
    assert "paused" in unisolated(alice.last)
    await alice.send(f"/start {FIRST}")
    assert "Sign the petition" in " ".join(alice.button_texts)
    await admin.send(f"/petitions {FIRST}")
    assert f"Commands act on {FIRST}" in unisolated(admin.last)
    await admin.send("/stats", replies=2)
    assert FIRST_TITLE in admin.messages[-2]["text"]
    await admin.send("/petitions nope")
    assert "No petition has the id nope" in unisolated(admin.last)


async def test_public_count_per_petition(server: FakeBotAPI, bot: BotInstance) -> None:
    alice = server.user(1, "Alice")
    await alice.send(f"/start {FIRST}")
    await sign_here(alice)
    runner = bot.application.bot_data.public_runner  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{bound_port(runner)}/count.json"
    async with aiohttp.ClientSession() as session:
        async with session.get(url, params={"petition": FIRST}) as response:
            assert (await response.json())["total"] == 1
        async with session.get(url, params={"petition": SECOND}) as response:
            assert (await response.json())["petition"] == SECOND
        async with session.get(url) as response:  # the newest open petition
            assert (await response.json())["petition"] == SECOND
        async with session.get(url, params={"petition": "nope"}) as response:
            assert response.status == 404


async def test_sighup_reload_adds_and_retires_petitions_keeping_signatures(
    server: FakeBotAPI, database_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "petitions"
    folder.mkdir()
    shutil.copy(PROJECT_ROOT / "petitions" / "five_eyes.toml", folder)
    five_eyes, g7 = (p.id for p in load_petitions(PROJECT_ROOT / "petitions"))
    catalog = Catalog(tuple(load_petitions(folder)))
    async with BotInstance(server, database_url, catalog, petition_file=str(folder)) as bot:
        alice = server.user(1, "Alice")
        await alice.send("/start")  # one petition: no chooser
        await sign_here(alice)
        assert "You are signer #1." in unisolated(alice.last)
        shutil.copy(PROJECT_ROOT / "petitions" / "g7_dafoh.toml", folder)
        (folder / "five_eyes.toml").unlink()
        assert reload_petitions(bot.application)  # type: ignore[arg-type]
        await alice.send(f"/start {g7}")
        assert "Sign the petition" in " ".join(alice.button_texts)
        await alice.send(f"/start {five_eyes}")  # retired: readable, closed, still counted
        assert "You signed this petition" in unisolated(alice.last)
        assert "no longer collecting signatures" in unisolated(alice.last)
        assert await bot.storage.total(five_eyes) == 1
        (folder / "broken.toml").write_text("id = ")
        assert not reload_petitions(bot.application)  # type: ignore[arg-type]
        await alice.send(f"/start {g7}")
        assert "Sign the petition" in " ".join(alice.button_texts)


async def test_a_broadcast_reaches_only_those_who_asked_for_updates_on_its_petition(
    server: FakeBotAPI, bot: BotInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(broadcasting, "POLL_SECONDS", 0.1)
    on_first, on_second, on_both = 701, 702, 703
    audiences = {on_first: [FIRST], on_second: [SECOND], on_both: [FIRST, SECOND]}
    for user_id, petitions in audiences.items():
        server.register_chat(server.user(user_id, "Supporter").chat)
        for petition_id in petitions:
            request = signature_request(petition_id, user_id, wants_updates=True)
            await bot.storage.sign(request, Journey(step=Step.SIGNED))
    admin = server.user(ADMIN, "Admin")
    await admin.send(f"/broadcast {SECOND} News about the archives", replies=2)
    assert "about 2 supporters" in unisolated(admin.last)
    await admin.press("Send")
    await server.wait_until(
        lambda: any("is finished" in text for text in server.replies_to(ADMIN)), 15
    )
    reached = {
        call.params["chat_id"]
        for call in server.calls_for("sendMessage")
        if call.params["text"] == "News about the archives"
    }
    assert reached == {ADMIN, on_second, on_both}  # the admin's preview, then the audience


async def test_mydata_shows_other_petitions_even_from_one_never_started(
    server: FakeBotAPI, bot: BotInstance
) -> None:
    alice = server.user(1, "Alice")
    await alice.send(f"/start {FIRST}")
    await sign_here(alice)
    await alice.send(f"/start {SECOND}")  # only its welcome: nothing stored for it yet
    await alice.send("/mydata")
    assert FIRST_TITLE in unisolated(alice.last) and "Signature #1" in unisolated(alice.last)


async def test_the_inline_card_is_for_the_petition_named_or_opened(
    server: FakeBotAPI, bot: BotInstance
) -> None:
    alice = server.user(1, "Alice")
    await alice.send(f"/start {SECOND}")
    card = (await alice.inline_query(""))["results"][0]
    assert card["title"] == SECOND_TITLE
    button = card["reply_markup"]["inline_keyboard"][0][0]
    assert button["url"].endswith(f"?start={SECOND}")
    named = (await alice.inline_query(FIRST))["results"][0]
    assert named["title"] == FIRST_TITLE


async def test_two_webhook_instances_agree_on_which_petition_a_supporter_has_open(
    postgres_url: str,
) -> None:
    """Updates alternate between the instances: the focus lives in the shared database."""
    async with FakeBotAPI() as server:
        server.webhook_targets = []
        async with (
            WebhookBotInstance(server, postgres_url, CATALOG) as first,
            WebhookBotInstance(server, postgres_url, CATALOG) as second,
        ):
            server.webhook_targets = [first.url, second.url]
            alice = server.user(1, "Alice")
            await alice.send(f"/start {SECOND}")
            await alice.press("Sign the petition")
            await alice.send("Canada")  # typed: whichever instance gets it
            await alice.press("Canada")
            await alice.press("or older")
            await alice.press("I agree")
            await alice.press("Use this name")
            await alice.press("Sign now")
            assert "You are signer #1." in unisolated(alice.last)
            assert (await first.storage.total(SECOND), await first.storage.total(FIRST)) == (1, 0)
