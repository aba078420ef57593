"""Bidirectional text: isolated values, paragraphs in their own direction, lists per locale,
and the one notice that a petition is not written in the supporter's language."""

from __future__ import annotations

import ast
from dataclasses import replace

import pytest

from bot.admin_screens import PetitionEntry, petitions_text
from bot.flow import Info
from bot.i18n import FIRST_STRONG_ISOLATE as FSI
from bot.i18n import POP_DIRECTIONAL_ISOLATE as PDI
from bot.i18n import isolated, translator
from bot.petition import Petition
from bot.screens import (
    LEFT_TO_RIGHT_MARK,
    RIGHT_TO_LEFT_MARK,
    View,
    bot_descriptions,
    plain_text,
    render,
    render_info,
    visible_length,
)
from bot.settings import PROJECT_ROOT
from bot.telegram_html import telegram_html_problem
from storage.records import Journey, PersonalData, Signature, SignatureRequest, Step
from tests.bidi import unisolated
from tests.clock import NOW
from tests.conftest import make_petition, petition_data

ARABIC_TEXT = {
    "title": "احموا سجناء الرأي",
    "summary": "ملخص قصير عن أهمية هذا الأمر.",
    "demands": ["المطلب الأول.", "المطلب الثاني."],
    "consent": "يُسجَّل اسمك وبلدك في هذه العريضة.",
    "privacy": "نحتفظ بمعرّف تيليغرام واسمك وبلدك.",
}


def view_of(petition: Petition, language: str, **changes: object) -> View:
    view = View(petition=petition, t=translator(language), total=1234, now=NOW, bot_username="b")
    return replace(view, **changes)


def screen_text(petition: Petition, language: str, step: Step = Step.INTRO) -> str:
    return render(Journey(step=step), view_of(petition, language)).text


def lines_with(text: str, needle: str) -> list[str]:
    return [line for line in text.split("\n") if needle in line]


# --- the formatting core ---------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "fr", "ja", "ar", "he"])
def test_every_value_is_isolated_in_every_language(language: str) -> None:
    t = translator(language)
    text = t.format("{name} · {place}", name="محمد", place="Zürich")
    assert text == f"{FSI}محمد{PDI} · {FSI}Zürich{PDI}"


def test_a_value_is_isolated_once() -> None:
    arabic = translator("ar")
    number = arabic.number(1234)  # numbers in right-to-left languages come isolated
    assert number.startswith(FSI)
    assert arabic.format("{n}", n=number) == number
    assert isolated(isolated("x")) == isolated("x")
    # Two isolates side by side are not one isolate: the whole is isolated again.
    pair = f"{FSI}a{PDI} {FSI}b{PDI}"
    assert isolated(pair) == f"{FSI}{pair}{PDI}"
    assert isolated("") == ""


def test_html_values_are_isolated_outside_their_tags() -> None:
    t = translator("en")
    title = 'A <i>brave</i> <a href="https://example.org/a?b=1&amp;c=2">title</a>'
    text = t.format(t.gettext("I help you read and sign the petition <b>{title}</b>."), title=title)
    assert f"<b>{FSI}{title}{PDI}</b>" in text
    assert telegram_html_problem(text) is None
    assert 'href="https://example.org/a?b=1&amp;c=2"' in text  # nothing inside the address


def test_isolates_count_towards_telegrams_length() -> None:
    t = translator("en")
    text = t.format(t.gettext("Name: {name}"), name="Ada")
    assert visible_length(text) == len("Name: Ada") + 2


def test_a_translated_message_is_never_filled_in_with_str_format() -> None:
    """`t.gettext(...).format(...)` would leave the values without isolates."""
    found = []
    for path in (PROJECT_ROOT / "bot").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("format", "format_map")
                and isinstance(node.func.value, ast.Call)
                and getattr(node.func.value.func, "attr", None) in ("gettext", "ngettext")
            ):
                found.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}")
    assert found == [], "use t.format(t.gettext(...), ...)"


# --- lists -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "A, B, and C"),
        ("fr", "A, B et C"),
        ("de", "A, B und C"),
        ("ja", "A、B、C"),
        ("zh_Hans", "A、B和C"),
        ("ar", "A وB وC"),
        ("he", "A, B וC"),
        ("ug", "A، B ۋە C"),  # Babel's Uyghur data would say "A, B, and C"
    ],
)
def test_lists_follow_the_locale(language: str, expected: str) -> None:
    listed = translator(language).format_list(["A", "B", "C"])
    assert unisolated(listed) == expected
    assert listed.count(FSI) == 3  # each name isolated


def test_target_countries_are_listed_in_the_supporters_language(petition: Petition) -> None:
    japanese = unisolated(plain_text(screen_text(petition, "ja")))
    line = lines_with(japanese, "カナダ")[0]
    assert "カナダ、" in line and ", " not in line
    english = unisolated(plain_text(screen_text(petition, "en")))
    assert "🇦🇺 Australia, and 🇳🇿 New Zealand" in english


# --- paragraphs carry the direction of their own language ------------------------------------


def test_english_paragraphs_are_left_to_right_in_a_right_to_left_interface(
    petition: Petition,
) -> None:
    text = screen_text(petition, "ar")
    title = lines_with(text, "Protect prisoners of conscience")[0]
    summary = lines_with(text, "A short summary")[0]
    assert title.startswith(LEFT_TO_RIGHT_MARK) and summary.startswith(LEFT_TO_RIGHT_MARK)
    count = lines_with(text, translator("ar").number(1234))[0]
    assert count.startswith(RIGHT_TO_LEFT_MARK)  # the interface's own lines stay right to left
    assert all(
        line.startswith((LEFT_TO_RIGHT_MARK, RIGHT_TO_LEFT_MARK)) for line in text.split("\n")
    )
    demands = screen_text(petition, "ar", Step.DEMANDS)
    for demand in ("First demand.", "Second demand.", "Some background"):
        assert lines_with(demands, demand)[0].startswith(LEFT_TO_RIGHT_MARK), demand
    consent = screen_text(petition, "he", Step.CONSENT)
    assert lines_with(consent, "Your name and country")[0].startswith(LEFT_TO_RIGHT_MARK)


def test_arabic_paragraphs_are_right_to_left_in_a_left_to_right_interface() -> None:
    arabic_only = Petition.model_validate(
        petition_data(default_language="ar", text={"ar": ARABIC_TEXT})
    )
    text = screen_text(arabic_only, "en")
    assert lines_with(text, ARABIC_TEXT["title"])[0].startswith(RIGHT_TO_LEFT_MARK)
    assert lines_with(text, ARABIC_TEXT["summary"])[0].startswith(RIGHT_TO_LEFT_MARK)
    assert not lines_with(text, "Addressed to")[0].startswith(RIGHT_TO_LEFT_MARK)
    privacy = render_info(Info.PRIVACY, view_of(arabic_only, "en")).text
    assert lines_with(privacy, ARABIC_TEXT["privacy"])[0].startswith(RIGHT_TO_LEFT_MARK)
    # In an Arabic interface the Arabic paragraphs are the interface's direction: one mark.
    arabic = screen_text(arabic_only, "ar")
    assert lines_with(arabic, ARABIC_TEXT["title"])[0].startswith(RIGHT_TO_LEFT_MARK + "<b>")


def test_the_direction_comes_from_the_field_actually_shown(petition: Petition) -> None:
    """French has a title of its own and nothing else: each field keeps its language."""
    assert petition.text_language("fr", "title") == "fr"
    assert petition.text_language("fr", "summary") == "en"
    assert petition.text_language("fr_CA", "title") == "fr"
    assert petition.text_language("ar", "title") == "en"
    with_arabic_title = make_petition(
        text={**petition_data()["text"], "ar": {"title": ARABIC_TEXT["title"]}}
    )
    text = screen_text(with_arabic_title, "ar")
    assert (
        lines_with(text, ARABIC_TEXT["title"])[0]
        == f"{RIGHT_TO_LEFT_MARK}<b>{ARABIC_TEXT['title']}</b>"
    )
    assert lines_with(text, "A short summary")[0].startswith(LEFT_TO_RIGHT_MARK)


# --- saying once which language the petition is written in -----------------------------------


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", None),
        ("fr", None),  # the petition has French text (a title): no notice
        ("ar", "هذه العريضة مكتوبة باللغة الإنجليزية."),
        ("ja", "この請願は英語で書かれています。"),
        ("de", "Diese Petition ist auf Englisch verfasst."),
        ("zh_Hant", "這項請願以英文撰寫。"),
    ],
)
def test_the_welcome_says_when_the_petition_is_not_in_the_supporters_language(
    petition: Petition, language: str, expected: str | None
) -> None:
    intro = unisolated(plain_text(screen_text(petition, language)))
    t = translator(language)
    notice = unisolated(t.gettext("This petition is written in {language}.")).split("{")[0]
    if expected is None:
        assert notice not in intro
        return
    assert expected in intro
    # Once: the screens after the welcome show the petition without repeating it.
    for step in (Step.DEMANDS, Step.CONSENT, Step.PREVIEW):
        assert notice not in unisolated(screen_text(petition, language, step)), step


def test_the_notice_names_the_default_language_in_the_supporters_own() -> None:
    arabic_only = Petition.model_validate(
        petition_data(default_language="ar", text={"ar": ARABIC_TEXT})
    )
    intro = screen_text(arabic_only, "en")
    assert f"<i>This petition is written in {FSI}Arabic{PDI}.</i>" in intro


# --- where isolates must not go --------------------------------------------------------------


def test_links_and_codes_stay_clean(petition: Petition) -> None:
    with_policy = make_petition(privacy_url="https://example.org/privacy")
    privacy = render_info(Info.PRIVACY, view_of(with_policy, "ar")).text
    link = '<a href="https://example.org/privacy">https://example.org/privacy</a>'
    assert f"{FSI}{link}{PDI}" in privacy
    demands = screen_text(petition, "en", Step.DEMANDS)
    assert f'• {FSI}<a href="https://chinatribunal.com/">China Tribunal</a>{PDI}' in demands
    listing = petitions_text(translator("en"), [PetitionEntry(petition, 3, None)], petition.id)
    assert f"{FSI}<code>test-petition</code>{PDI}: " in listing
    journey = Journey(step=Step.SIGNED)
    signed = render(journey, view_of(petition, "ar", signature=Signature(7, NOW, "CA", "CODE")))
    for row in signed.buttons:
        for button in row:
            assert FSI not in (button.url or "") and FSI not in (button.data or "")


def test_a_long_title_is_shortened_inside_its_isolate() -> None:
    long_title = make_petition(
        text={"en": {**petition_data()["text"]["en"], "title": "Very long title " * 12}}
    )
    _, short = bot_descriptions(long_title, "en")
    assert len(short) <= 120
    assert short.endswith(f"…{PDI}") and short.count(FSI) == short.count(PDI) == 1


# --- wording --------------------------------------------------------------------------------


def test_adults_are_not_told_about_a_consent_they_never_needed(petition: Petition) -> None:
    def my_data(guardian_consent: bool) -> str:
        signed = SignatureRequest(
            petition.id, 1, "Ada", "CA", "en", False, guardian_consent, "v1", None, NOW
        )
        data = PersonalData(signed, 1, "CODE", None, None, None)
        view = view_of(petition, "en", personal_data=data)
        return render_info(Info.MY_DATA, view).text

    assert "consent" not in my_data(guardian_consent=False).split("Your Telegram id")[0].lower()
    assert "Signed with a parent's or guardian's consent" in my_data(guardian_consent=True)


@pytest.mark.parametrize(
    ("language", "message", "expected"),
    [
        ("de", "I am {age} or older", "Ich bin mindestens {age} Jahre alt"),
        ("de", "I am younger than {age}", "Ich bin jünger als {age} Jahre"),
        (
            "he",
            "In {country}, people under {age} need a parent's or guardian's consent to sign.",
            "במדינה שלך ({country})",
        ),
        ("fr", "Bye.", "Au revoir."),
    ],
)
def test_wording_found_in_review(language: str, message: str, expected: str) -> None:
    assert expected in translator(language).gettext(message)
