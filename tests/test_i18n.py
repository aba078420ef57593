"""Languages: the message template is current, and languages resolve as supporters expect."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

from bot.i18n import available_languages, match_language, resolve_language, translator
from bot.settings import PROJECT_ROOT


def test_message_template_is_up_to_date(tmp_path: Path) -> None:
    """Every gettext string in the code is in locales/messages.pot (run pybabel extract)."""
    fresh = tmp_path / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            "babel.cfg",
            "-o",
            str(fresh),
            "--no-location",
            "--no-wrap",
            ".",
        ],
        cwd=PROJECT_ROOT,
        check=True,
        capture_output=True,
    )
    with fresh.open("rb") as handle:
        wanted = {message.id for message in read_po(handle) if message.id}
    with (PROJECT_ROOT / "locales" / "messages.pot").open("rb") as handle:
        shipped = {message.id for message in read_po(handle) if message.id}
    assert wanted == shipped, (
        "run: pybabel extract -F babel.cfg -o locales/messages.pot --no-wrap ."
    )


def gettext_calls_in_code() -> set[object]:
    """Every literal gettext/ngettext message in bot/, found by syntax (f-strings included)."""
    found: set[object] = set()
    for path in (PROJECT_ROOT / "bot").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "attr", getattr(node.func, "id", None))
            literals = [arg.value for arg in node.args if isinstance(arg, ast.Constant)]
            if name == "gettext" and literals:
                found.add(literals[0])
            elif name == "ngettext" and len(literals) >= 2:
                found.add((literals[0], literals[1]))
    return found


def test_no_message_escapes_extraction() -> None:
    """pybabel skips calls inside f-strings: such a message would stay English everywhere."""
    with (PROJECT_ROOT / "locales" / "messages.pot").open("rb") as handle:
        shipped = {message.id for message in read_po(handle) if message.id}
    assert gettext_calls_in_code() - shipped == set()


@pytest.mark.parametrize(
    ("code", "available", "expected"),
    [
        ("en", ("en", "fr"), "en"),
        ("fr-CA", ("en", "fr"), "fr"),
        ("pt-br", ("en", "pt"), "pt"),
        ("pt-br", ("en", "pt_BR", "pt_PT"), "pt_BR"),
        ("pt", ("en", "pt_BR", "pt_PT"), "pt_PT"),
        ("pt-pt", ("en", "pt_BR", "pt_PT"), "pt_PT"),
        ("pt-ao", ("en", "pt_BR", "pt_PT"), "pt_PT"),
        ("pt", ("en", "pt_BR"), "pt_BR"),
        ("zh-hans", ("en", "zh_Hans", "zh_Hant"), "zh_Hans"),
        ("zh-tw", ("en", "zh_Hans", "zh_Hant"), "zh_Hant"),
        ("zh-hk", ("en", "zh_Hans", "zh_Hant"), "zh_Hant"),
        ("zh", ("en", "zh_Hans", "zh_Hant"), "zh_Hans"),
        ("xx-garbage", ("en",), None),
        ("", ("en",), None),
        (None, ("en",), None),
    ],
)
def test_match_language(code: str | None, available: tuple[str, ...], expected: str | None) -> None:
    assert match_language(code, available) == expected


def test_resolve_language_order() -> None:
    available = ("en", "fr", "de")
    assert resolve_language("de", "fr", "en", available) == "de"
    assert resolve_language(None, "fr-FR", "en", available) == "fr"
    assert resolve_language(None, "ja", "fr", available) == "fr"
    assert resolve_language(None, None, "xx", available) == "en"


def test_plurals_and_numbers_in_english() -> None:
    t = translator("en")
    assert t.ngettext("{n} person", "{n} people", 1) == "{n} person"
    assert t.ngettext("{n} person", "{n} people", 2) == "{n} people"
    assert t.number(1234567) == "1,234,567"


@pytest.mark.parametrize("language", available_languages())
def test_whole_numbers_read_as_babel_writes_them(language: str) -> None:
    t = translator(language)
    for value in (0, 5, 42, 1_000, 9_999, 10_000, 505_970, 1_000_000, 987_654_321):
        assert t.number(value) == t.isolate(format_decimal(value, locale=t.locale)), value
