"""Odd input, stale and forged buttons, Bot API errors, floods: answered, never a crash."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.petition import Petition
from tests.bidi import unisolated
from tests.fakes import FakeBotAPI, FakeUser
from tests.harness import BotInstance, raw_message, raw_sticker
from tests.test_journey_e2e import sign_up_to_preview, signature_rows


@pytest.fixture
async def bot(server: FakeBotAPI, tmp_path: Path, petition: Petition) -> AsyncIterator[BotInstance]:
    async with BotInstance(server, f"sqlite:///{tmp_path}/e2e.db", petition) as instance:
        yield instance


GARBAGE_TEXTS = [
    "x" * 4096,
    "\u202e\u200b\u2066 ‮",
    "🙂" * 500,
    "<script>alert(1)</script> & </b>",
    "'; DROP TABLE signatures; --",
    "/start " + "A" * 300,
    "/start r_$$$$",
    "/START@petition_test_bot",
    "/start@another_bot",
]


async def poke_everything(user: FakeUser, *, text_step: bool = False) -> None:
    """Throw odd input at the current step; the journey must stay where it was."""
    before = unisolated(user.last)
    step_marker = before.splitlines()[-1] if before else ""
    await user.send_raw(raw_sticker(user.user_id))
    assert "Please" in unisolated(user.last)
    await user.press_data("age:yes:extra:parts")
    assert "earlier step" in unisolated(user.last) or "Please" in unisolated(user.last)
    # The same notice on the same screen again: Telegram answers "not modified", no new reply.
    await user.press_data("z" * 64, expect_reply=False)
    assert "earlier step" in unisolated(user.last)
    if text_step:  # typed text is an answer here (a country search, a name)
        return
    await user.send("\u0000\u0007 hello")
    assert step_marker in unisolated(user.last)


async def test_garbage_at_every_step_never_breaks_the_journey(
    server: FakeBotAPI, bot: BotInstance
) -> None:
    olga = server.user(2001, "Olga", language_code="en")
    await olga.send("/start")
    for text in GARBAGE_TEXTS:
        if text.startswith("/start@another_bot"):
            await olga.send_raw(raw_message(2001, text), expect_reply=False)
            await olga.expect_silence(0.2)
            continue
        await olga.send(text)
    await olga.send("/start")
    path = ["Sign the petition", "Canada", "or older", "I agree", "Use this name"]
    await poke_everything(olga)
    for label in path:
        await olga.press(label)
        await poke_everything(olga, text_step=label in ("Sign the petition", "I agree"))
    await olga.press("Sign now")
    assert "You are signer #1." in unisolated(olga.last)
    await olga.send_raw(raw_sticker(olga.user_id))
    assert "as signer #1" in unisolated(olga.last)
    await olga.press_data("preview:sign", expect_reply=False)
    await olga.send("Sign me again")
    assert "as signer #1" in unisolated(olga.last)
    assert len(await signature_rows(bot)) == 1


async def test_edited_messages_and_unknown_updates_are_ignored(
    server: FakeBotAPI, bot: BotInstance
) -> None:
    pete = server.user(2002, "Pete")
    await pete.send("/start")
    await pete.send_raw(
        {
            "edited_message": {
                "message_id": 1,
                "date": 0,
                "edit_date": 1,
                "text": "edited",
                "chat": {"id": 2002, "type": "private", "first_name": "Pete"},
                "from": {"id": 2002, "is_bot": False, "first_name": "Pete"},
            }
        },
        expect_reply=False,
    )
    await pete.send_raw(
        {
            "channel_post": {
                "message_id": 5,
                "date": 0,
                "text": "/start",
                "chat": {"id": -1009, "type": "channel", "title": "News"},
            }
        },
        expect_reply=False,
    )
    await pete.expect_silence(0.3)
    await pete.press("Sign the petition")  # still perfectly usable
    assert "Where do you live?" in unisolated(pete.last)


async def test_a_button_on_a_message_too_old_to_edit_gets_a_new_message(
    server: FakeBotAPI, bot: BotInstance
) -> None:
    rosa = server.user(2004, "Rosa")
    await rosa.send("/start")
    data = rosa.last_message["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    old = {"message_id": rosa.last_message["message_id"], "date": 0, "chat": rosa.chat}
    await rosa.send_raw({"callback_query": {"message": old, "data": data}})
    assert server.calls_for("editMessageText") == []  # Telegram would refuse to edit it
    assert len(server.calls_for("sendMessage")) == 2
    assert "We ask the governments to" in unisolated(rosa.last)


async def test_stale_button_from_an_older_message(server: FakeBotAPI, bot: BotInstance) -> None:
    quinn = server.user(2003, "Quinn")
    await quinn.send("/start")
    old_message_id = quinn.last_message["message_id"]
    await quinn.press("Sign the petition")
    await quinn.send("/start")  # a second message, welcome screen
    await quinn.press_data("intro:demands", message_id=old_message_id)
    assert "We ask the governments to" in unisolated(quinn.last)
    await quinn.press_data("country:pick:CA", message_id=old_message_id)
    assert "earlier step" in unisolated(quinn.last)
    assert await signature_rows(bot) == []


async def test_failed_edit_falls_back_to_a_new_message(
    server: FakeBotAPI, bot: BotInstance
) -> None:
    rosa = server.user(2004, "Rosa")
    await rosa.send("/start")
    server.fail_next(
        "editMessageText", status=400, description="Bad Request: message to edit not found"
    )
    await rosa.press("Sign the petition")
    assert "Where do you live?" in unisolated(rosa.last)
    assert len(rosa.messages) == 2


async def test_rate_limit_and_server_errors_are_retried(
    server: FakeBotAPI, bot: BotInstance
) -> None:
    sam = server.user(2005, "Sam")
    server.fail_next("sendMessage", status=429, retry_after=1)
    await sam.send("/start")
    assert "Protect prisoners of conscience" in unisolated(sam.last)
    assert [call.ok for call in server.calls_for("sendMessage")] == [False, True]


async def test_blocked_supporter_is_marked_not_retried(
    server: FakeBotAPI, bot: BotInstance
) -> None:
    tess = server.user(2006, "Tess")
    await sign_up_to_preview(tess)
    await tess.press("Sign now")
    server.block(2006)
    await tess.send_raw(raw_message(2006, "/status"), expect_reply=False)
    await tess.expect_silence(0.3)
    assert [call.ok for call in server.calls_for("sendMessage")] == [True, False]  # no retry
    assert (await bot.storage.load(bot.petition.id, 2006)).blocked is True
    server.unblock(2006)
    await tess.send("/status")  # writing again shows they no longer block the bot
    assert "as signer #1" in unisolated(tess.last)
    assert (await bot.storage.load(bot.petition.id, 2006)).blocked is False


async def test_a_flooding_user_does_not_starve_others(
    server: FakeBotAPI, tmp_path: Path, petition: Petition
) -> None:
    """One user floods 400 updates; others still sign promptly, and the flood stays in order."""
    server.latency = 0.005
    async with BotInstance(
        server, f"sqlite:///{tmp_path}/flood.db", petition, max_concurrent_updates=4
    ):
        mallory = server.user(2007, "Mallory")
        await mallory.send("/start")
        await mallory.press("Sign the petition")
        await mallory.press("Another country")
        queries = ["Germany", "France", "Japan", "Brazil"] * 100
        for query in queries:
            mallory.push_text(query)
        supporters = [server.user(2100 + index, f"Supporter{index}") for index in range(5)]
        for supporter in supporters:  # these start after the whole flood is queued
            await sign_up_to_preview(supporter)
        await asyncio.gather(*(supporter.press("Sign now") for supporter in supporters))
        replies_to_mallory_so_far = len(server.replies_to(2007))
        assert all("You are signer #" in unisolated(supporter.last) for supporter in supporters)
        assert replies_to_mallory_so_far < len(queries), "others waited for the whole flood"
        await mallory.wait_for_replies(len(queries) + 3, timeout=60)
        # Each typed query got its own message whose first button is the best match.
        answers = [stored for stored in server.chat_history(2007) if stored.from_bot][1:]
        first_buttons = [stored.inline_keyboard[0][0]["text"] for stored in answers]
        assert len(first_buttons) == len(queries)
        for query, button in zip(queries, first_buttons, strict=True):
            assert query in button  # strictly in order


async def test_an_unexpected_failure_is_logged_and_explained(
    server: FakeBotAPI, bot: BotInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A storage failure mid-step: the supporter hears what happened; the next try works."""
    uma = server.user(2008, "Uma")
    await uma.send("/start")
    storage = bot.storage
    original = storage.load

    async def broken(*args: object, **kwargs: object) -> object:
        monkeypatch.setattr(storage, "load", original)  # fail once only
        raise RuntimeError("database went away")

    monkeypatch.setattr(storage, "load", broken)
    await uma.send("/status")
    assert "something went wrong on our side" in unisolated(uma.last)
    await uma.press("Sign the petition")
    assert "Where do you live?" in unisolated(uma.last)


async def test_button_on_a_message_too_old_to_show_gets_a_new_message(
    server: FakeBotAPI, bot: BotInstance
) -> None:
    vera = server.user(2009, "Vera")
    await vera.send("/start")
    await vera.send_raw(
        {
            "callback_query": {
                "id": "old-press-1",
                "chat_instance": "ci",
                "data": "intro:sign",
                "from": {"id": 2009, "is_bot": False, "first_name": "Vera"},
                # Telegram sends date 0 for a message it can no longer show (InaccessibleMessage).
                "message": {
                    "message_id": 1,
                    "date": 0,
                    "chat": {"id": 2009, "type": "private", "first_name": "Vera"},
                },
            }
        }
    )
    assert "Where do you live?" in unisolated(vera.last)
    assert len(vera.messages) == 2


async def test_server_errors_are_retried_with_backoff(server: FakeBotAPI, bot: BotInstance) -> None:
    xena = server.user(2010, "Xena")
    server.fail_next("sendMessage", status=502, description="Bad Gateway", times=2)
    await xena.send("/start")
    assert "Protect prisoners of conscience" in unisolated(xena.last)
    statuses = [call.ok for call in server.calls_for("sendMessage")]
    assert statuses == [False, False, True]


async def test_an_edit_failing_three_times_still_lands(
    server: FakeBotAPI, tmp_path: Path, petition: Petition
) -> None:
    """The Bot API is briefly broken: the screen still changes, in place, exactly once."""
    async with BotInstance(server, f"sqlite:///{tmp_path}/n.db", petition):
        yuri = server.user(2011, "Yuri")
        await yuri.send("/start")
        server.fail_next("editMessageText", status=500, times=3)
        await yuri.press("Sign the petition")
        assert "Where do you live?" in unisolated(yuri.last)
        assert len(yuri.messages) == 1


async def test_a_text_with_a_lone_surrogate_delays_nobody(
    server: FakeBotAPI, bot: BotInstance
) -> None:
    """Telegram can send "\\ud800" alone (JSON allows it, UTF-8 does not): such an update is
    stored and answered like any other, and the updates behind it are handled."""
    mallory, alice = server.user(4101, "Mallory"), server.user(4102, "Alice")
    await mallory.send("/start")
    await mallory.press("Sign the petition")
    await mallory.send("Can\ud800ada")  # a country search with a broken character
    assert "Canada" in " ".join(mallory.button_texts)
    await alice.send("/start")
    assert "Protect prisoners of conscience" in unisolated(alice.last)


async def test_a_send_answered_500_is_not_sent_again(server: FakeBotAPI, bot: BotInstance) -> None:
    """A 500 may come after Telegram delivered the message: sending it again could show it
    twice. (502 and 503, from a gateway that never reached Telegram, are retried above.)"""
    yuri = server.user(2011, "Yuri")
    server.fail_next("sendMessage", status=500)
    await yuri.send("/start")
    welcomes = [c for c in server.calls_for("sendMessage") if "Protect prisoners" in str(c.params)]
    assert len(welcomes) == 1
    assert "Sorry, something went wrong" in unisolated(yuri.last)  # and they are told to try again
