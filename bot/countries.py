"""Country names, flags and search, all from Babel's CLDR data.

A supporter finds their country by typing any part of its name in their own language or in
English, or its ISO code ("de", "DEU"), with case, accents and small typos forgiven.
"""

from __future__ import annotations

import difflib
import unicodedata
from dataclasses import dataclass
from functools import cache

from babel import Locale
from babel.core import get_global

# CLDR territories that are not countries one can live in or sign from: regions, groupings,
# private-use and "exceptionally reserved" codes.
_NOT_COUNTRIES = frozenset(
    {"AC", "CP", "CQ", "DG", "EA", "EU", "EZ", "IC", "QO", "TA", "UN", "XA", "XB", "ZZ"}
)
_FALLBACK_LANGUAGE = "en"


@cache
def country_codes() -> frozenset[str]:
    territories = Locale.parse(_FALLBACK_LANGUAGE).territories
    return frozenset(
        code
        for code in territories
        if len(code) == 2 and code.isalpha() and code not in _NOT_COUNTRIES
    )


def is_country_code(code: str) -> bool:
    return code in country_codes()


@cache
def _locale(language: str) -> Locale:
    try:
        return Locale.parse(language)
    except (ValueError, LookupError):
        return Locale.parse(_FALLBACK_LANGUAGE)


def country_name(code: str, language: str) -> str:
    return _locale(language).territories.get(code) or code


def flag(code: str) -> str:
    """The emoji flag: two regional indicator symbols spelling the ISO code."""
    return "".join(chr(0x1F1E6 + ord(letter) - ord("A")) for letter in code.upper())


def fold(text: str) -> str:
    """Case- and accent-insensitive form used for matching ("Côte d’Ivoire" → "cote d'ivoire")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    without_marks = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(without_marks.replace("’", "'").replace("-", " ").split())


@cache
def _code_aliases() -> dict[str, str]:
    """ISO alpha-3 codes and old codes (e.g. "DEU", "UK") → alpha-2, from CLDR aliases."""
    aliases: dict[str, str] = {}
    for alias, replacements in get_global("territory_aliases").items():
        if alias.isalpha() and len(replacements) == 1 and is_country_code(replacements[0]):
            aliases[alias.casefold()] = replacements[0]
    return aliases


@dataclass(frozen=True, slots=True)
class _Entry:
    code: str
    folded: str
    words: tuple[str, ...]


@cache
def _index(language: str) -> tuple[_Entry, ...]:
    entries: list[_Entry] = []
    for code in sorted(country_codes()):
        names = {country_name(code, language), country_name(code, _FALLBACK_LANGUAGE)}
        for name in names:
            folded = fold(name)
            entries.append(_Entry(code, folded, tuple(folded.replace("'", " ").split())))
    return tuple(entries)


def search_countries(query: str, language: str, limit: int = 8) -> list[str]:
    """ISO codes of the countries matching `query`, best first.

    Ranking: exact code or name, then name prefix, then word prefix, then substring, then
    close spelling (difflib) for typos. Names are matched in `language` and in English.
    """
    needle = fold(query)[:60]
    if not needle:
        return []
    scores: dict[str, float] = {}

    def offer(code: str, score: float) -> None:
        if score > scores.get(code, 0.0):
            scores[code] = score

    upper = needle.upper()
    if is_country_code(upper):
        offer(upper, 100)
    if needle in _code_aliases():
        offer(_code_aliases()[needle], 100)
    for entry in _index(language):
        if entry.folded == needle:
            offer(entry.code, 90)
        elif entry.folded.startswith(needle):
            offer(entry.code, 80)
        elif any(word.startswith(needle) for word in entry.words):
            offer(entry.code, 70)
        elif len(needle) >= 2 and needle in entry.folded:
            offer(entry.code, 60)
        elif len(needle) >= 4:
            ratio = difflib.SequenceMatcher(None, needle, entry.folded).ratio()
            if ratio >= 0.75:
                offer(entry.code, 40 + ratio * 10)
    ranked = sorted(scores, key=lambda code: (-scores[code], country_name(code, language)))
    return ranked[:limit]
