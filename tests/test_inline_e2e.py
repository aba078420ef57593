"""Inline mode: `@bot` in any chat offers a share card with the live count and a Sign button."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.petition import Petition
from bot.screens import LEFT_TO_RIGHT_MARK, RIGHT_TO_LEFT_MARK
from tests.bidi import unisolated
from tests.conftest import make_petition
from tests.fakes import FakeBotAPI, FakeUser
from tests.harness import BotInstance
from tests.test_journey_e2e import sign_up_to_preview

TITLE = "Protect prisoners of conscience"
FRENCH_TITLE = "Protéger les prisonniers d'opinion"
BOT_LINK = "https://t.me/petition_test_bot?start"
ADMIN = 778000

JSON = dict[str, Any]


@pytest.fixture
async def bot(
    server: FakeBotAPI, database_url: str, petition: Petition
) -> AsyncIterator[BotInstance]:
    async with BotInstance(server, database_url, petition, admin_ids=str(ADMIN)) as instance:
        yield instance


def card_of(answer: JSON) -> JSON:
    """The one result of an answerInlineQuery, checked against what Telegram requires."""
    results = answer["results"]
    assert len(results) == 1
    card = results[0]
    assert card["type"] == "article"
    assert 1 <= len(card["id"].encode()) <= 64
    assert card["input_message_content"]["parse_mode"] == "HTML"
    assert 0 < len(card["input_message_content"]["message_text"]) <= 4096
    assert answer["is_personal"] is True
    assert 0 < answer["cache_time"] <= 60
    return card


def text_of(card: JSON) -> str:
    return card["input_message_content"]["message_text"]


def buttons_of(card: JSON) -> list[JSON]:
    return [button for row in card["reply_markup"]["inline_keyboard"] for button in row]


async def sign(user: FakeUser, start: str = "/start") -> None:
    await sign_up_to_preview(user, start=start)
    await user.press("Sign now")
    assert "Thank you!" in unisolated(user.last)


async def test_a_non_signer_gets_the_card_with_a_plain_start_link(
    server: FakeBotAPI, bot: BotInstance
) -> None:
    ada = server.user(781001, "Ada")
    card = card_of(await ada.inline_query(""))
    assert card["title"] == TITLE
    assert unisolated(card["description"]) == "0 have signed · goal 50"
    text = unisolated(text_of(card))
    assert f"<b>{TITLE}</b>" in text
    assert "A short summary of why this matters." in text
    assert "<b>0</b> people have signed · next goal: 50" in text
    assert "Add your name too" in text
    [button] = buttons_of(card)
    assert "Sign the petition" in button["text"]
    assert button["url"] == BOT_LINK
    # The card is offered, not sent: nothing appears in the querier's chat with the bot.
    await ada.expect_silence(0.2)


async def test_a_signers_card_carries_their_referral_link_and_friends_count(
    server: FakeBotAPI, bot: BotInstance
) -> None:
    alice, bob = server.user(781002, "Alice"), server.user(781003, "Bob")
    await sign(alice)
    record = await bot.storage.load(bot.petition.id, alice.user_id)
    assert record.signature is not None
    card = card_of(await alice.inline_query(""))
    [button] = buttons_of(card)
    assert button["url"] == f"{BOT_LINK}=r_{record.signature.referral_code}"
    await alice.send("/mylink")
    assert button["url"] in unisolated(
        alice.last
    ) and "0 people have signed through your link" in unisolated(alice.last)
    # Bob presses the button in the chat where Alice posted the card: Telegram sends /start r_…
    payload = button["url"].split("?start=", 1)[1]
    await sign(bob, f"/start {payload}")
    await alice.send("/mylink")
    assert "1 person has signed through your link so far." in unisolated(alice.last)
    assert (
        unisolated(card_of(await alice.inline_query(""))["description"])
        == "2 have signed · goal 50"
    )


async def test_the_count_and_goal_are_live(server: FakeBotAPI, bot: BotInstance) -> None:
    ada, carol = server.user(781004, "Ada"), server.user(781005, "Carol")
    assert (
        unisolated(card_of(await ada.inline_query("count"))["description"])
        == "0 have signed · goal 50"
    )
    await sign(carol)
    card = card_of(await ada.inline_query("count"))
    assert unisolated(card["description"]) == "1 has signed · goal 50"
    assert "<b>1</b> person has signed" in unisolated(text_of(card))
    admin = server.user(ADMIN, "Admin")
    await admin.send("/goal 12345")
    card = card_of(await ada.inline_query("count"))
    assert unisolated(card["description"]) == "1 has signed · goal 12,345"
    assert "next goal: 12,345" in unisolated(text_of(card))


@pytest.mark.parametrize(
    "query",
    [
        "x" * 256,
        "<b>&amp; & <script>'\"; DROP TABLE signatures; --",
        "\u202e\u200f\x00\U0001f600 r_AAAAAAAAAAAA",
        "/start r_../../etc",
        "   ",
    ],
)
async def test_whatever_is_typed_the_card_is_the_same(
    server: FakeBotAPI, bot: BotInstance, query: str
) -> None:
    ada = server.user(781006, "Ada")
    plain = card_of(await ada.inline_query(""))
    assert card_of(await ada.inline_query(query)) == plain


async def test_a_scroll_for_more_results_gets_none(server: FakeBotAPI, bot: BotInstance) -> None:
    ada = server.user(781007, "Ada")
    query_id = server._new_id()
    await ada.send_raw(
        {"inline_query": {"id": query_id, "query": "", "offset": "1"}}, expect_reply=False
    )
    await server.wait_until(lambda: query_id in server.inline_answers)
    assert server.inline_answers[query_id]["results"] == []


@pytest.mark.parametrize(
    ("language_code", "title", "sign"),
    [
        ("fr", FRENCH_TITLE, "Signer la pétition"),
        ("fr-CA", FRENCH_TITLE, "Signer la pétition"),
        ("de", TITLE, "Petition unterschreiben"),  # no German wording: the default language's
    ],
)
async def test_the_card_speaks_the_queriers_language(
    server: FakeBotAPI, bot: BotInstance, language_code: str, title: str, sign: str
) -> None:
    user = server.user(781008, "Zoé", language_code=language_code)
    card = card_of(await user.inline_query(""))
    assert card["title"] == title
    assert f"<b>{title}</b>" in unisolated(text_of(card))
    assert sign in buttons_of(card)[0]["text"]


async def test_a_chosen_language_wins_over_telegrams(server: FakeBotAPI, bot: BotInstance) -> None:
    zoe = server.user(781009, "Zoé", language_code="en")
    await zoe.send("/language")
    await zoe.press("Français")
    assert card_of(await zoe.inline_query(""))["title"] == FRENCH_TITLE


async def test_right_to_left_cards_start_every_line_right_to_left(
    server: FakeBotAPI, bot: BotInstance
) -> None:
    omar = server.user(781010, "Omar", language_code="ar")
    lines = text_of(card_of(await omar.inline_query(""))).split("\n")
    # The petition has no Arabic text: its English title and summary read left to right.
    english = [line for line in lines if not line.startswith(RIGHT_TO_LEFT_MARK)]
    assert english == [
        f"{LEFT_TO_RIGHT_MARK}<b>{TITLE}</b>",
        f"{LEFT_TO_RIGHT_MARK}A short summary of why this matters.",
    ]


async def test_a_paused_petition_says_so_and_offers_no_sign_button(
    server: FakeBotAPI, bot: BotInstance
) -> None:
    alice, admin = server.user(781011, "Alice"), server.user(ADMIN, "Admin")
    await sign(alice)
    await admin.send("/pause")
    card = card_of(await alice.inline_query(""))
    assert card["title"] == TITLE
    assert unisolated(card["description"]) == "1 person has signed · Signing is paused for now."
    assert "paused and is not collecting signatures" in unisolated(text_of(card))
    [button] = buttons_of(card)
    assert "Sign" not in button["text"] and "Read the petition" in button["text"]
    assert button["url"] == BOT_LINK  # no referral link: nobody can sign through it now
    await admin.send("/resume")
    assert "Sign the petition" in buttons_of(card_of(await alice.inline_query("")))[0]["text"]


async def test_an_ended_petition_says_when_it_closed(server: FakeBotAPI, database_url: str) -> None:
    ended = make_petition(deadline="2020-01-31")
    async with BotInstance(server, database_url, ended):
        ada = server.user(781012, "Ada")
        card = card_of(await ada.inline_query(""))
        assert unisolated(card["description"]) == "0 people have signed · Signing has ended."
        assert "closed on January 31, 2020 and no longer accepts signatures" in unisolated(
            text_of(card)
        )
        assert "Add your name" not in unisolated(text_of(card))
        assert [button["url"] for button in buttons_of(card)] == [BOT_LINK]


async def test_a_refused_answer_is_logged_and_the_bot_carries_on(
    server: FakeBotAPI, bot: BotInstance, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    ada = server.user(781013, "Ada")
    server.fail_next(
        "answerInlineQuery",
        status=400,
        description="Bad Request: query is too old and response timeout expired or query ID "
        "is invalid",
    )
    await ada.send_raw({"inline_query": {"query": "late"}}, expect_reply=False)
    await server.wait_until(lambda: bool(server.calls_for("answerInlineQuery")))
    assert not server.calls_for("answerInlineQuery")[0].ok
    assert card_of(await ada.inline_query(""))["title"] == TITLE  # the next one works
    assert any("could not answer the inline query" in r.getMessage() for r in caplog.records)
    assert not any("unhandled error" in r.getMessage() for r in caplog.records)
    assert server.replies_to(ADMIN) == []  # no error alert: nothing went wrong on our side
