"""Supporters read the bot in their own language, end to end (Arabic, Japanese, Russian…)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.countries import country_name
from bot.i18n import translator
from bot.petition import Petition, load_petition
from bot.screens import LEFT_TO_RIGHT_MARK, RIGHT_TO_LEFT_MARK, bot_descriptions, language_name
from bot.settings import PROJECT_ROOT
from tests.bidi import unisolated
from tests.fakes import FakeBotAPI, FakeUser
from tests.harness import BotInstance
from tests.test_journey_e2e import signature_rows

COUNT_LINE = ("<b>{count}</b> person has signed", "<b>{count}</b> people have signed")


@pytest.fixture
def five_eyes() -> Petition:
    return load_petition(PROJECT_ROOT / "petitions" / "five_eyes.toml")


@pytest.fixture
async def bot(
    server: FakeBotAPI, tmp_path: Path, five_eyes: Petition
) -> AsyncIterator[BotInstance]:
    async with BotInstance(server, f"sqlite:///{tmp_path}/e2e.db", five_eyes) as instance:
        yield instance


def visible(html_text: str) -> str:
    """What a button label or bold text looks like once Telegram has parsed the HTML."""
    return html_text.replace("<b>", "").replace("</b>", "")


async def sign_in(user: FakeUser, language: str, country: str) -> None:
    t = translator(language)
    await user.send("/start")
    await user.press(t.gettext("✍️ Sign the petition"))
    await user.press(country_name(country, language))
    age_button = t.format(t.gettext("I am {age} or older"), age=t.number(16))
    await user.press(age_button)
    await user.press(t.gettext("✅ I agree, continue"))
    await user.press(t.gettext("Use this name"))
    await user.press(t.gettext("✍️ Sign now"))


@pytest.mark.parametrize(
    ("language", "code", "country"),
    [("ar", "ar", "GB"), ("ja", "ja", "AU"), ("ru", "ru", "CA"), ("zh_Hant", "zh-hant", "NZ")],
)
async def test_a_whole_journey_in_the_supporters_language(
    server: FakeBotAPI, bot: BotInstance, language: str, code: str, country: str
) -> None:
    t = translator(language)
    user = server.user(3000 + len(language), "Sam", "Lee", language_code=code)
    await sign_in(user, language, country)
    # Exactly as the bot writes it: the number isolated inside the sentence.
    thanks = t.format(
        visible(t.gettext("🎉 <b>Thank you! You are signer #{number}.</b>")), number=t.number(1)
    )
    assert thanks in user.last
    assert t.format(visible(t.ngettext(*COUNT_LINE, 1)), count=t.number(1)) in user.last
    rows = await signature_rows(bot)
    assert (rows[0][3], rows[0][2]) == (country, "Sam Lee")
    if t.right_to_left:
        assert all(line.startswith(RIGHT_TO_LEFT_MARK) for line in user.last_html.split("\n"))
    await user.send("/status")
    signature = (await bot.storage.load(bot.petition.id, user.user_id)).signature
    assert signature is not None
    signed_on = t.format(
        t.gettext("You signed on {date} as signer #{number}."),
        date=t.date(signature.signed_at),
        number=t.number(1),
    )
    assert signed_on in user.last


async def test_petition_text_comes_in_the_language_when_the_file_has_it(
    server: FakeBotAPI, bot: BotInstance, five_eyes: Petition
) -> None:
    marie = server.user(3101, "Marie", language_code="fr-CA")
    await marie.send("/start")
    assert five_eyes.text_for("fr").title in unisolated(marie.last)
    assert "Allemagne" not in unisolated(marie.last) and "Royaume-Uni" in unisolated(
        marie.last
    )  # CLDR names in French
    kenji = server.user(3102, "Kenji", language_code="ja")
    await kenji.send("/start")
    assert five_eyes.text_for("ja").title in unisolated(kenji.last)
    assert translator("ja").gettext("📜 Read the demands") in kenji.button_texts


async def test_choosing_a_language_is_remembered(server: FakeBotAPI, bot: BotInstance) -> None:
    lena = server.user(3103, "Lena", language_code="en")
    await lena.send("/start")
    await lena.press(f"🌐 {language_name('en')}")
    assert "Choose your language" in unisolated(lena.last)
    await lena.press(language_name("de"))
    german = translator("de")
    assert german.gettext("✍️ Sign the petition") in lena.button_texts
    await lena.press(german.gettext("✍️ Sign the petition"))
    await lena.send("/language")
    await lena.press(german.gettext("« Back"))
    assert german.gettext("🌍 Another country") in lena.button_texts
    await lena.send("/start")  # Telegram still says "en": the stored choice wins
    assert german.gettext("📜 Read the demands") in lena.button_texts


async def test_telegram_language_variants_map_to_our_catalogs(
    server: FakeBotAPI, bot: BotInstance
) -> None:
    for user_id, code, language in [
        (3104, "pt-br", "pt_BR"),
        (3105, "zh-hans", "zh_Hans"),
        (3106, "zh-tw", "zh_Hant"),
        (3107, "xx", "en"),
    ]:
        user = server.user(user_id, "Pat", language_code=code)
        await user.send("/start")
        assert translator(language).gettext("📜 Read the demands") in user.button_texts, code


async def test_menus_and_descriptions_are_published_per_language(
    server: FakeBotAPI, bot: BotInstance, five_eyes: Petition
) -> None:
    languages = {call.params.get("language_code") for call in server.calls_for("setMyCommands")}
    assert {None, "fr", "ar", "ja", "ru", "zh", "he", "ug", "hi"} <= languages
    assert server.descriptions["fr"] == bot_descriptions(five_eyes, "fr")[0]
    assert server.short_descriptions["ar"] == bot_descriptions(five_eyes, "ar")[1]
    before = len(server.calls_for("setMyDescription"))
    async with BotInstance(server, bot.settings.database_url.replace("e2e", "again"), five_eyes):
        pass
    assert len(server.calls_for("setMyDescription")) == before  # unchanged texts: not re-sent


async def test_a_petition_not_in_the_supporters_language_says_so_once(
    server: FakeBotAPI, tmp_path: Path, petition: Petition
) -> None:
    """The petition has no Arabic text: the welcome says, in Arabic, that it is written in
    English; the English paragraphs read left to right in the right-to-left chat."""
    arabic = translator("ar")
    notice = arabic.format(
        arabic.gettext("This petition is written in {language}."), language="الإنجليزية"
    )
    async with BotInstance(server, f"sqlite:///{tmp_path}/english.db", petition):
        omar = server.user(3201, "Omar", language_code="ar")
        await omar.send("/start")
        welcome = omar.last_html.split("\n")
        assert welcome[0] == f"{RIGHT_TO_LEFT_MARK}<i>{notice}</i>"
        english = [line for line in welcome if not line.startswith(RIGHT_TO_LEFT_MARK)]
        assert english == [
            f"{LEFT_TO_RIGHT_MARK}<b>Protect prisoners of conscience</b>",
            f"{LEFT_TO_RIGHT_MARK}A short summary of why this matters.",
        ]
        # Once: the next screens show the petition's English without repeating it.
        await omar.press(arabic.gettext("📜 Read the demands"))
        demands = omar.last_html.split("\n")
        assert f"{LEFT_TO_RIGHT_MARK}<b>1.</b> First demand." in demands
        heading = arabic.gettext("We ask the governments to:")
        assert f"{RIGHT_TO_LEFT_MARK}<b>{heading}</b>" in demands
        assert notice not in omar.last
        await omar.press(arabic.gettext("✍️ Sign the petition"))
        assert notice not in omar.last
        # Someone whose language the petition is written in is told nothing of the kind.
        ada = server.user(3202, "Ada", language_code="en")
        await ada.send("/start")
        assert "This petition is written in" not in unisolated(ada.last)
        assert not ada.last_html.startswith((LEFT_TO_RIGHT_MARK, RIGHT_TO_LEFT_MARK))
