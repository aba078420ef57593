"""Country names, flags and search, from Babel's CLDR data and a table of common aliases.

A supporter finds their country by typing its name, or the start of it, in any language CLDR
knows (not only the bot's own), a common alias ("USA", "Holland", "Burma"), its ISO code ("de",
"DEU") or its flag, with case, accents and small typos forgiven.
"""

from __future__ import annotations

import bisect
import pickle
import re
import tomllib
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TypeVar

from babel import Locale
from babel.core import get_global
from babel.localedata import locale_identifiers, resolve_locale_filename
from rapidfuzz import process
from rapidfuzz.distance import OSA

from bot.i18n import available_languages

# CLDR territories that are not countries one can live in or sign from: regions, groupings,
# private-use and "exceptionally reserved" codes.
_NOT_COUNTRIES = frozenset(
    {"AC", "CP", "CQ", "DG", "EA", "EU", "EZ", "IC", "QO", "TA", "UN", "XA", "XB", "ZZ"}
)
_FALLBACK_LANGUAGE = "en"
T = TypeVar("T")


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
    """The form names are matched in: case, accents, dots, apostrophes and dashes ignored, and
    spellings that mean the same letter made one ("Côte d’Ivoire" → "cote divoire", "U.S.A." →
    "usa", Arabic ة/ه and ى/ي, traditional and simplified Chinese characters)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    without_marks = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    plain = without_marks.translate(_FOLDS).translate(_chinese_folds())
    words = plain.split()
    if len(words) > 1 and words[0] == "the":
        words = words[1:]
    return " ".join(words)


# Dropped: dots and apostrophes inside abbreviations and names; Hebrew geresh and gershayim
# (ארה״ב); Arabic tatweel. Made spaces: dashes and other separators. Made one: Arabic letters
# people write either way.
_FOLDS = str.maketrans(
    {
        **dict.fromkeys(".'’‘`´\"״׳ʼـ", None),
        **dict.fromkeys("-‐–—_,/()&+:;!?«»„“”「」・·", " "),
        "ة": "ه",
        "ى": "ي",
        "ی": "ي",  # Persian yeh and keheh, as Persian and Uyghur write them
        "ک": "ك",
        "臺": "台",  # the formal form of 台, in names CLDR writes with 台
    }
)


@cache
def _chinese_folds() -> dict[int, int]:
    """Traditional → simplified characters, learned from CLDR's two Chinese name lists: where
    the two names of a country have the same length, their differing characters are pairs."""
    simplified, traditional = (
        Locale.parse("zh_Hans").territories,
        Locale.parse("zh_Hant").territories,
    )
    pairs: dict[int, int] = {}
    for code, hans in simplified.items():
        hant = traditional.get(code, "")
        if len(hant) == len(hans):
            for old, new in zip(hant, hans, strict=True):
                if old != new and "\u4e00" <= old <= "\u9fff":
                    pairs.setdefault(ord(old), ord(new))
    return pairs


def flag_code(text: str) -> str | None:
    """The country of a flag emoji: 🇩🇪 → DE; England's or Scotland's flag → GB."""
    letters = [ord(ch) - 0x1F1E6 for ch in text if 0x1F1E6 <= ord(ch) <= 0x1F1FF]
    if len(letters) == 2:
        return "".join(chr(ord("A") + letter) for letter in letters)
    tags = "".join(chr(ord(ch) - 0xE0000) for ch in text if 0xE0061 <= ord(ch) <= 0xE007A)
    return tags[:2].upper() if len(tags) >= 2 else None


@cache
def _code_aliases() -> dict[str, str]:
    """ISO alpha-3 codes and old codes (e.g. "DEU", "UK") → alpha-2, from CLDR aliases."""
    aliases: dict[str, str] = {}
    for alias, replacements in get_global("territory_aliases").items():
        if alias.isalpha() and len(replacements) == 1 and is_country_code(replacements[0]):
            aliases[alias.casefold()] = replacements[0]
    return aliases


ALIASES_FILE = Path(__file__).parent / "data" / "country_aliases.toml"
_ALIAS = "*"  # the "language" of a name from the alias table: as good as the supporter's own


@dataclass(frozen=True, slots=True)
class _Names:
    """Every name of every country in every CLDR language, folded, ready to search."""

    exact: dict[str, dict[str, frozenset[str]]]  # name → code → languages it is written in
    starts: list[str]  # each name from each of its word starts, sorted, for prefix search
    owners: list[tuple[str, bool, frozenset[str]]]  # per `starts` entry: code, whole name?, langs
    by_language: dict[str, list[tuple[str, str]]]  # language → (name, code), for substrings
    every_name: list[str]  # for typos
    every_code: list[dict[str, frozenset[str]]]
    likely_rank: dict[str, int]


def _name_languages() -> list[str]:
    """Babel's languages without a region (ours with theirs), each script once."""
    bare = [
        code
        for code in locale_identifiers()
        if "_" not in code or (code.count("_") == 1 and len(code.split("_")[1]) == 4)
    ]
    return sorted(set(bare) - {"root"} | set(available_languages()))


def _territory_names(language: str) -> dict[str, str]:
    """A language's own territory names, read from Babel's data file without keeping the rest:
    `Locale(...).territories` would hold every language's whole CLDR data (~170 MB) in Babel's
    cache for the life of the process."""
    try:
        with open(resolve_locale_filename(language), "rb") as data_file:
            data = pickle.load(data_file)  # Babel's own packaged data
    except (OSError, ValueError, pickle.UnpicklingError):
        return {}
    return dict(data.get("territories", {}))


@cache
def _names() -> _Names:
    written: dict[str, dict[str, set[str]]] = {}

    def add(name: str, code: str, language: str) -> None:
        folded = fold(name)
        if folded and is_country_code(code):
            written.setdefault(folded, {}).setdefault(code, set()).add(language)

    for language in _name_languages():
        territories = _territory_names(language)
        for code in country_codes():
            if code in territories:
                add(territories[code], code, language)
    with ALIASES_FILE.open("rb") as handle:
        table = tomllib.load(handle)
    for code, names in table["aliases"].items():
        for name in names:
            add(name, code, _ALIAS)
    # Only the languages a supporter can have (ours, and the alias table) are told apart when
    # ranking. Most names share their few possible values, so each value is stored once
    # (`one`): the index of ~32,000 names then takes a few megabytes, not tens.
    # A regional catalog (pt_BR, zh_Hans) reads its names from its base language's data.
    ours = available_languages()
    spoken = {*ours, *(language.split("_")[0] for language in ours), _FALLBACK_LANGUAGE, _ALIAS}
    stored: dict[object, object] = {}

    def one(value: T) -> T:
        return stored.setdefault(value, value)  # type: ignore[return-value]

    exact: dict[str, dict[str, frozenset[str]]] = {}
    for name, codes in written.items():
        pairs = tuple(
            sorted((code, one(frozenset(langs & spoken))) for code, langs in codes.items())
        )
        exact[name] = stored.setdefault(pairs, dict(pairs))  # type: ignore[assignment]
    entries: list[tuple[str, tuple[str, bool, frozenset[str]]]] = []
    by_language: dict[str, list[tuple[str, str]]] = {}
    for name, codes in exact.items():
        starts = [0] + [match.end() for match in re.finditer(r" ", name)]
        for code, langs in codes.items():
            for language in langs:
                by_language.setdefault(language, []).append((name, code))
            for start in starts:
                entries.append((name[start:], one((code, start == 0, langs))))
    entries.sort(key=lambda entry: entry[0])
    likely = {code: rank for rank, code in enumerate(table["likely_first"])}
    return _Names(
        exact=exact,
        starts=[entry[0] for entry in entries],
        owners=[owner for _, owner in entries],
        by_language=by_language,
        every_name=list(exact),
        every_code=list(exact.values()),
        likely_rank=likely,
    )


def warm_up() -> None:
    """Build the name index now (about a second) rather than on the first supporter's query."""
    _names()


# Scores: a name exactly, then the start of a name, then the start of a word, then inside a
# name, each a little higher in the supporter's own language, English or the alias table.
# A close spelling of a whole name (one edit: 55) outranks a match inside a name ("inida" is
# India, not trINIDAd), but never a name's start.
EXACT, WHOLE_PREFIX, WORD_PREFIX, TYPO, INSIDE = 100, 80, 70, 60, 50
OWN_BONUS = 5


def _typo_budget(length: int) -> int:
    """How many edits a typed name may be from the real one: none below 4 letters, so that a
    short query never lands on an unrelated country, and a few on long names."""
    return 0 if length < 4 else 1 if length < 8 else 2 if length < 13 else 3


def search_countries(query: str, language: str, limit: int = 8) -> list[str]:
    """ISO codes of the countries matching `query`, best first.

    Names are matched in every language CLDR knows and in the alias table, so a supporter
    finds their country whatever language their Telegram app speaks. Ranking: a code, flag or
    exact name; then the start of a name; the start of a word; inside a name (the supporter's
    own language and English only); and only when nothing else matched, a close spelling
    (a typo). Names in the supporter's language or English (or aliases) come before the same
    kind of match in another language; ties go to the likelier country.
    """
    needle = fold(query)[:60]
    flagged = flag_code(query)
    if not needle and not flagged:
        return []
    names = _names()
    own = {language, language.split("_")[0], _FALLBACK_LANGUAGE, _ALIAS}
    scores: dict[str, float] = {}

    def offer(code: str, score: float, languages: frozenset[str] | None = None) -> None:
        if languages is not None and not languages.isdisjoint(own):
            score += OWN_BONUS
        if score > scores.get(code, 0.0):
            scores[code] = score

    if flagged and is_country_code(flagged):
        offer(flagged, EXACT + OWN_BONUS)
    compact = needle.replace(" ", "")
    if is_country_code(compact.upper()):
        offer(compact.upper(), EXACT + OWN_BONUS)
    if compact in _code_aliases():
        offer(_code_aliases()[compact], EXACT + OWN_BONUS)
    for code, languages in names.exact.get(needle, {}).items():
        offer(code, EXACT, languages)
    position = bisect.bisect_left(names.starts, needle)
    while position < len(names.starts) and names.starts[position].startswith(needle):
        code, whole, languages = names.owners[position]
        offer(code, WHOLE_PREFIX if whole else WORD_PREFIX, languages)
        position += 1
    if len(needle) >= 2:
        for own_language in own:
            for name, code in names.by_language.get(own_language, ()):
                if needle in name:
                    offer(code, INSIDE + OWN_BONUS)
    if max(scores.values(), default=0) < WORD_PREFIX and _typo_budget(len(needle)):
        for _, distance, index in process.extract(
            needle,
            names.every_name,
            scorer=OSA.distance,
            score_cutoff=_typo_budget(len(needle)),
            limit=limit * 2,
        ):
            for code, languages in names.every_code[index].items():
                offer(code, TYPO - distance * 5, languages)
    likely = names.likely_rank
    ranked = sorted(
        scores,
        key=lambda code: (
            -scores[code],
            likely.get(code, len(likely)),
            country_name(code, language),
        ),
    )
    return ranked[:limit]
