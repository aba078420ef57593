"""Country names and search come from CLDR (Babel)."""

from __future__ import annotations

import pytest

from bot.countries import country_codes, country_name, flag, fold, search_countries


def test_country_list_is_real_countries() -> None:
    codes = country_codes()
    assert 240 <= len(codes) <= 260
    assert {"US", "TW", "PS", "XK"} <= codes
    assert not {"EU", "UN", "ZZ", "001"} & codes


@pytest.mark.parametrize(
    ("query", "language", "first"),
    [
        ("germany", "en", "DE"),
        ("GERM", "en", "DE"),
        ("Deutschland", "de", "DE"),
        ("de", "en", "DE"),
        ("DEU", "en", "DE"),
        ("uk", "en", "GB"),
        ("usa", "en", "US"),
        ("kingdom", "en", "GB"),
        ("cote divoire", "en", "CI"),
        ("Côte d’Ivoire", "en", "CI"),
        ("new zeland", "en", "NZ"),  # a typo still finds it
        ("ドイツ", "ja", "DE"),
        ("Allemagne", "fr", "DE"),
        ("germany", "fr", "DE"),  # English names work in every language
        ("台灣", "zh_Hant", "TW"),
    ],
)
def test_search_finds(query: str, language: str, first: str) -> None:
    assert search_countries(query, language)[0] == first


def test_search_nonsense_and_empty() -> None:
    assert search_countries("xqzzy", "en") == []
    assert search_countries("   ", "en") == []
    assert search_countries("a" * 10_000, "en") == []


def test_search_limit() -> None:
    assert len(search_countries("a", "en", limit=8)) == 8


def test_names_flags_fold() -> None:
    assert country_name("DE", "fr") == "Allemagne"
    assert country_name("DE", "not-a-language") == "Germany"
    assert flag("ca") == "🇨🇦"
    assert fold("  Ça-va  ÉTÉ ") == "ca va ete"
