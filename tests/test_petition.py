"""The petition file: parsing, validation messages that name the field, goals, fallbacks."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.petition import Petition, PetitionFileError, current_goal, load_petition
from bot.screens import check_petition_fits
from bot.settings import PROJECT_ROOT
from tests.conftest import NOW, make_petition, petition_data

SHIPPED = sorted((PROJECT_ROOT / "petitions").glob("*.toml"))


def test_shipped_petitions_exist() -> None:
    names = {path.name for path in SHIPPED}
    assert {"five_eyes.toml", "g7_dafoh.toml"} <= names


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.name)
def test_shipped_petitions_load_and_fit_telegram(path: Path) -> None:
    petition = load_petition(path)
    check_petition_fits(petition, NOW)
    assert petition.closed_reason(NOW) is None
    for language in ("en", "fr", "de", "es", "zh_Hant"):
        assert language in petition.text, f"{path.name} lacks text.{language}"
        text = petition.text_for(language)
        assert text.demands and len(text.demands) == len(petition.text_for("en").demands or [])


def test_five_eyes_petition_facts() -> None:
    petition = load_petition(PROJECT_ROOT / "petitions" / "five_eyes.toml")
    assert set(petition.targets) == {"CA", "GB", "US", "AU", "NZ"}
    assert len(petition.text_for("en").demands or []) == 5
    assert petition.age.minimum_for("US") == 13
    assert petition.age.minimum_for("CA") == 16


def test_g7_petition_targets() -> None:
    petition = load_petition(PROJECT_ROOT / "petitions" / "g7_dafoh.toml")
    assert set(petition.targets) == {
        "US",
        "CA",
        "FR",
        "DE",
        "IT",
        "JP",
        "GB",
        "AR",
        "AU",
        "IN",
        "IL",
        "MX",
        "KR",
        "TW",
    }


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "petition.toml"
    path.write_text(text, encoding="utf-8")
    return path


MINIMAL = """
id = "p1"
version = "1"
goal = 100
targets = ["CA"]
[text.en]
title = "T"
summary = "S"
demands = ["D"]
consent = "C"
privacy = "P"
"""


def test_minimal_file_loads(tmp_path: Path) -> None:
    petition = load_petition(write(tmp_path, MINIMAL))
    assert petition.quick_countries == ["CA"]
    assert petition.age.minimum_for("FR") == 16


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda s: s.replace('targets = ["CA"]', 'targets = ["XX"]'), "targets.0"),
        (lambda s: s.replace("goal = 100", "goal = -1"), "goal"),
        (lambda s: s.replace('id = "p1"', 'id = "Has Spaces"'), "id"),
        (lambda s: s.replace('demands = ["D"]\n', ""), "demands"),
        (lambda s: s.replace("[text.en]", "[text.fr]"), "text.en"),
        (lambda s: s + "\nunknown_key = 1\n", "unknown_key"),
        (lambda s: s + "\ndeadline = 2027-01-01T00:00:00\n", "deadline"),
        (lambda s: s + "\n[age]\ndefault = 99\n", "age.default"),
        (lambda s: s.replace("goal = 100", "goal = [1"), "not valid TOML"),
    ],
)
def test_invalid_files_name_the_field(tmp_path: Path, edit, expected: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PetitionFileError) as error:
        load_petition(write(tmp_path, edit(MINIMAL)))
    assert expected in str(error.value)
    assert str(error.value).startswith("PETITION_FILE:")
    assert "\n" not in str(error.value).strip()


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PetitionFileError, match="cannot read"):
        load_petition(tmp_path / "nope.toml")


def test_too_long_text_fails_at_start(tmp_path: Path) -> None:
    petition = make_petition(
        text={
            "en": {
                "title": "T",
                "summary": "S",
                "demands": ["x" * 1000] * 5,
                "consent": "C",
                "privacy": "P",
            }
        }
    )
    with pytest.raises(PetitionFileError, match=r"text\.en is too long"):
        check_petition_fits(petition, NOW)


def test_date_deadline_means_end_of_that_day() -> None:
    petition = make_petition(deadline="2026-11-23")
    assert petition.deadline == datetime(2026, 11, 23, 23, 59, 59, tzinfo=UTC)
    assert petition.closed_reason(NOW) is None


def test_text_falls_back_per_field_to_default_language() -> None:
    petition = make_petition()
    french = petition.text_for("fr")
    assert french.title == "Protéger les prisonniers d'opinion"
    assert french.demands == petition.text_for("en").demands
    assert petition.text_for("fr_CA").title == french.title
    assert petition.text_for("ja").title == petition.text_for("en").title


@pytest.mark.parametrize(
    ("goal", "count", "expected"),
    [
        (50, 0, 50),
        (50, 49, 50),
        (50, 50, 100),
        (50, 99, 100),
        (50, 100, 250),
        (50, 1234, 2500),
        (50, 505_970, 1_000_000),
        (1_000_000, 505_970, 1_000_000),
        (1_000_000, 1_000_000, 2_500_000),
    ],
)
def test_goal_rises_to_the_next_round_step(goal: int, count: int, expected: int) -> None:
    assert current_goal(goal, count) == expected


def test_goal_does_not_rise_when_disabled() -> None:
    assert current_goal(50, 80, auto_raise=False) == 50


def test_bare_ampersand_in_petition_text_fails_when_read() -> None:
    text = {"title": "Cats & dogs", "summary": "S", "demands": ["D"], "consent": "C"}
    with pytest.raises(ValueError, match=r"text\.en\.title[\s\S]*a bare &"):
        make_petition(text={"en": {**text, "privacy": "P"}})
    fine = make_petition(
        text={
            "en": {
                "title": "Cats &amp; dogs",
                "summary": "S",
                "demands": ["D"],
                "consent": "C",
                "privacy": "P",
            }
        }
    )
    check_petition_fits(fine, NOW)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("xx", "'xx' is not a known language code"),
        ("FR", "write the language code as 'fr'"),
        ("pt-br", "write the language code as 'pt_BR'"),
    ],
)
def test_language_sections_are_known_codes_written_as_matched(code: str, message: str) -> None:
    text = petition_data()["text"]
    text[code] = {"title": "T"}
    with pytest.raises(ValueError, match=re.escape(message)):
        make_petition(text=text)


def test_wording_is_built_once_per_language_and_a_copy_with_other_wording_has_its_own(
    petition: Petition,
) -> None:
    french = petition.text_for("fr")
    assert petition.text_for("fr") is french  # built once: no HTML check per screen
    english_only = petition.model_copy(update={"text": {"en": petition.text["en"]}})
    assert english_only.text_for("fr").title == petition.text["en"].title
    assert petition.with_live(goal=7, paused=None).text_for("fr") == french
