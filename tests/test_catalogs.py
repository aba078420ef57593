"""Every catalog is complete and correct, and every screen fits Telegram in every language."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po

from bot.countries import country_codes
from bot.flow import Info, Notice
from bot.i18n import LOCALES_DIR, available_languages, translator
from bot.menus import admin_command_list, command_list, menu_languages
from bot.petition import PartialPetitionText, Petition, load_petition
from bot.screens import (
    DIRECTION_MARKS,
    MAX_DESCRIPTION_LENGTH,
    MAX_MESSAGE_LENGTH,
    MAX_SHORT_DESCRIPTION_LENGTH,
    RIGHT_TO_LEFT_MARK,
    View,
    bot_descriptions,
    render,
    render_info,
    visible_length,
)
from bot.settings import PROJECT_ROOT
from storage.records import Journey, Signature, Step
from tests.conftest import NOW

REQUIRED_LANGUAGES = {
    "en",
    "fr",
    "de",
    "es",
    "it",
    "pt_BR",
    "pt_PT",
    "ru",
    "ja",
    "ko",
    "zh_Hans",
    "zh_Hant",
    "hi",
    "ar",
    "he",
    "ug",
}
TRANSLATED = sorted(REQUIRED_LANGUAGES - {"en"})
PLACEHOLDER = re.compile(r"\{\w*\}")
TAG = re.compile(r"</?\w+[^>]*>")
MAX_BUTTON_TEXT = 64
MAX_CALLBACK_DATA_BYTES = 64


def load_catalog(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)


def messages(catalog: Catalog) -> dict[object, Message]:
    return {message.id: message for message in catalog if message.id}


TEMPLATE = messages(load_catalog(LOCALES_DIR / "messages.pot"))


def test_every_required_language_is_available() -> None:
    assert set(available_languages()) >= REQUIRED_LANGUAGES


@pytest.mark.parametrize("language", TRANSLATED)
def test_catalog_is_complete_and_faithful(language: str) -> None:
    catalog = load_catalog(LOCALES_DIR / language / "LC_MESSAGES" / "messages.po", language)
    translated = messages(catalog)
    assert set(translated) == set(TEMPLATE), (
        "run: pybabel update -i locales/messages.pot -d locales"
    )
    for message_id, message in translated.items():
        assert not message.fuzzy, f"{language}: fuzzy entry {message_id!r}"
        sources = message_id if isinstance(message_id, tuple) else (message_id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if isinstance(message_id, tuple):
            assert len(strings) == catalog.num_plurals, f"{language}: {message_id!r}"
        for string in strings:
            assert string, f"{language}: untranslated {message_id!r}"
            assert set(PLACEHOLDER.findall(string)) == set(PLACEHOLDER.findall(sources[-1])), (
                f"{language}: placeholders differ in {string!r}"
            )
            assert sorted(TAG.findall(string)) == sorted(TAG.findall(sources[0])), (
                f"{language}: HTML differs in {string!r}"
            )
            assert not re.search("[\u200e\u200f\u202a-\u202e\u2066-\u2069]", string), (
                f"{language}: bidi controls belong to the code, not the catalog: {string!r}"
            )


COUNT_LINE = ("<b>{count}</b> person has signed", "<b>{count}</b> people have signed")


def test_russian_has_three_plural_forms() -> None:
    t = translator("ru")
    one, few, many = (t.ngettext(*COUNT_LINE, n) for n in (1, 2, 5))
    assert len({one, few, many}) == 3
    assert t.ngettext(*COUNT_LINE, 21) == one
    assert t.ngettext(*COUNT_LINE, 24) == few
    assert t.ngettext(*COUNT_LINE, 11) == many
    assert t.ngettext(*COUNT_LINE, 111) == many


def test_arabic_has_six_plural_forms_following_cldr() -> None:
    t = translator("ar")
    forms = [t.ngettext(*COUNT_LINE, n) for n in (0, 1, 2, 3, 11, 100)]
    assert len(set(forms)) == 6
    assert t.ngettext(*COUNT_LINE, 103) == forms[3]  # "few": n % 100 in 3..10
    assert t.ngettext(*COUNT_LINE, 199) == forms[4]  # "many": n % 100 in 11..99
    assert t.ngettext(*COUNT_LINE, 1002) == forms[5]


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "1,234,567"),
        ("de", "1.234.567"),
        ("fr", "1\u202f234\u202f567"),
        ("ru", "1\xa0234\xa0567"),
        ("hi", "12,34,567"),
    ],
)
def test_numbers_follow_the_locale(language: str, expected: str) -> None:
    assert translator(language).number(1_234_567) == expected


def test_right_to_left_languages_are_marked() -> None:
    for language in ("ar", "he", "ug"):
        assert translator(language).right_to_left
        assert translator(language).number(5).startswith("\u2068")
    assert not translator("ja").right_to_left


def shipped_petitions() -> list[Petition]:
    return [load_petition(path) for path in sorted((PROJECT_ROOT / "petitions").glob("*.toml"))]


@pytest.mark.parametrize("language", sorted(REQUIRED_LANGUAGES))
def test_every_shipped_petition_is_written_out_in_every_interface_language(language: str) -> None:
    """A supporter never reads consent or demands in another language than their buttons."""
    assert set(available_languages()) == REQUIRED_LANGUAGES
    for petition in shipped_petitions():
        assert language in petition.text, f"{petition.id} has no [text.{language}]"
        own, source = petition.text[language], petition.text[petition.default_language]
        for field in PartialPetitionText.model_fields:
            if getattr(source, field) is not None:
                assert getattr(own, field), f"{petition.id}: text.{language}.{field} is missing"
        assert len(own.demands or []) == len(source.demands or [])


def longest_country(language: str) -> str:
    names = {
        code: translator(language).locale.territories.get(code, code) for code in country_codes()
    }
    return max(names, key=lambda code: len(names[code]))


def worst_case_screens(petition: Petition, language: str) -> list:
    """Every screen, with the longest values each placeholder can take."""
    country = longest_country(language)
    journey = Journey(
        country=country,
        country_matches=tuple(sorted(country_codes()))[:8],
        name="W" * 64,
        meets_minimum_age=False,
        guardian_consent=True,
        consent=True,
        wants_updates=True,
        resume_step=Step.PREVIEW,
    )
    signature = Signature(10**9, NOW, country, "A" * 32)
    view = View(
        petition=petition,
        t=translator(language),
        total=10**9,
        now=NOW,
        bot_username="b" * 32,
        signature=signature,
        profile_name="P" * 64,
        notice=Notice.NAME_HAS_CONTROL_CHARACTERS,
        notice_args={"query": "Q" * 60},
        country_counts={code: 10**8 for code in sorted(country_codes())[:40]},
    )
    screens = [render(replace(journey, step=step), view) for step in Step]
    for notice in Notice:
        screens.append(
            render(
                replace(journey, step=Step.SEARCH),
                replace(
                    view, notice=notice, notice_args={"query": "Q" * 60, "min": "2", "max": "64"}
                ),
            )
        )
    screens += [render_info(info, view) for info in Info]
    return screens


def written_only_in_its_default_language(petition: Petition) -> Petition:
    """The petition as a campaign that has not translated it yet would ship it."""
    default = petition.default_language
    return petition.model_copy(update={"text": {default: petition.text[default]}})


@pytest.mark.parametrize("language", sorted(REQUIRED_LANGUAGES))
def test_every_screen_fits_telegram_limits(language: str) -> None:
    right_to_left = translator(language).right_to_left
    for petition in shipped_petitions():
        # Also untranslated: the default language's paragraphs and a notice saying so.
        for shown in (petition, written_only_in_its_default_language(petition)):
            for screen in worst_case_screens(shown, language):
                assert visible_length(screen.text) <= MAX_MESSAGE_LENGTH
                for row in screen.buttons:
                    for button in row:
                        assert 0 < len(button.text) <= MAX_BUTTON_TEXT, button.text
                        if button.data is not None:
                            assert len(button.data.encode()) <= MAX_CALLBACK_DATA_BYTES
                lines = screen.text.split("\n")
                if right_to_left and shown.has_text_in(language):
                    assert all(line.startswith(RIGHT_TO_LEFT_MARK) for line in lines)
                elif right_to_left:  # English paragraphs left to right, the rest right to left
                    assert all(line.startswith(DIRECTION_MARKS) for line in lines)
        description, short = bot_descriptions(petition, language)
        assert 0 < len(description) <= MAX_DESCRIPTION_LENGTH
        assert 0 < len(short) <= MAX_SHORT_DESCRIPTION_LENGTH


def test_command_menus_are_localized_and_valid(petition: Petition) -> None:
    menus = menu_languages(petition)
    assert menus[None] == "en"
    assert menus["zh"] in ("zh_Hans", "zh_Hant")
    assert all(code is None or re.fullmatch("[a-z]{2}", code) for code in menus)
    for language in available_languages():
        for command in command_list(language) + admin_command_list(language):
            assert re.fullmatch("[a-z_]{1,32}", command.command)
            assert 1 <= len(command.description) <= 256
    assert command_list("fr")[0].description != command_list("en")[0].description


def test_a_shared_menu_code_takes_the_variant_the_petition_is_written_in(
    petition: Petition,
) -> None:
    """Telegram has one "zh" and one "pt" menu: show the Chinese the petition has text in,
    and Brazilian Portuguese (Telegram's own) when both variants would do."""
    texts = {"en": petition.text["en"]}
    only_traditional = petition.model_copy(update={"text": {**texts, "zh_Hant": texts["en"]}})
    assert menu_languages(only_traditional)["zh"] == "zh_Hant"
    only_simplified = petition.model_copy(update={"text": {**texts, "zh_Hans": texts["en"]}})
    assert menu_languages(only_simplified)["zh"] == "zh_Hans"
    assert menu_languages(only_simplified)["pt"] == "pt_BR"
    european = petition.model_copy(update={"text": {**texts, "pt_PT": texts["en"]}})
    assert menu_languages(european)["pt"] == "pt_PT"
