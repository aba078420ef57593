"""Languages: gettext catalogs (Babel), CLDR number/date formats, the supporter's language.

Catalogs live in ``locales/<lang>/LC_MESSAGES/messages.po`` and are compiled in memory at start,
so there is no build step and no compiled file to forget. English msgids are the source text.

Working with the catalogs (pybabel comes with Babel):

    pybabel extract -F babel.cfg -o locales/messages.pot .
    pybabel update -i locales/messages.pot -d locales          # refresh every language
    pybabel init -i locales/messages.pot -d locales -l fr      # start a new language

Translate first, then fill in: ``t.format(t.gettext("{count} have signed"), count=...)``.
``Translator.format`` isolates every value it fills in (FIRST STRONG ISOLATE … POP DIRECTIONAL
ISOLATE), in every language: a name, number, date, link or petition title keeps its own
direction and never reorders the sentence around it (an Arabic name in an English sentence, an
English title in a Hebrew one). Never ``str.format`` a translated message directly.
"""

from __future__ import annotations

import gettext as gettext_module
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache, lru_cache
from io import BytesIO
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.lists import format_list
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from babel.support import Translations

from bot.settings import PROJECT_ROOT

LOCALES_DIR = PROJECT_ROOT / "locales"
FIRST_STRONG_ISOLATE = "\u2068"
POP_DIRECTIONAL_ISOLATE = "\u2069"
# LEFT-TO-RIGHT, RIGHT-TO-LEFT and FIRST STRONG ISOLATE, each closed by a POP DIRECTIONAL ISOLATE.
_ISOLATE_INITIATORS = frozenset("\u2066\u2067\u2068")
SOURCE_LANGUAGE = "en"
# Where CLDR (as Babel ships it) has no list patterns of the language's own: Babel's Uyghur
# data joins with the English ", and".
LIST_PATTERNS: dict[str, dict[str, str]] = {
    "ug": {"start": "{0}، {1}", "middle": "{0}، {1}", "end": "{0} ۋە {1}", "2": "{0} ۋە {1}"},
}


def isolated(text: str) -> str:
    """`text` as one isolate (FSI … PDI), whatever the language around it.

    Inside, the text takes the direction of its own first strong letter; outside, it counts as
    one neutral character, so an Arabic name cannot drag an English sentence's punctuation
    around, nor an English title a Hebrew one's. Empty or already isolated text is returned as
    it is (a number from `Translator.number` in Arabic comes isolated).
    """
    if not text or _is_one_isolate(text):
        return text
    return f"{FIRST_STRONG_ISOLATE}{text}{POP_DIRECTIONAL_ISOLATE}"


def _is_one_isolate(text: str) -> bool:
    """Whether `text` is a single FSI … PDI: the opening FSI is closed by the final PDI."""
    if len(text) < 2 or text[0] != FIRST_STRONG_ISOLATE or text[-1] != POP_DIRECTIONAL_ISOLATE:
        return False
    depth = 0
    for index, char in enumerate(text):
        if char in _ISOLATE_INITIATORS:
            depth += 1
        elif char == POP_DIRECTIONAL_ISOLATE:
            depth -= 1
            if depth == 0:
                return index == len(text) - 1
    return False


@cache
def is_right_to_left(language: str) -> bool:
    """Whether `language` (a catalog or petition language code) is written right to left."""
    try:
        return Locale.parse(language).character_order == "right-to-left"
    except (ValueError, UnknownLocaleError):
        return False


@cache
def available_languages(locales_dir: Path = LOCALES_DIR) -> tuple[str, ...]:
    """The source language plus every language that has a catalog."""
    found = {path.parent.parent.name for path in locales_dir.glob("*/LC_MESSAGES/messages.po")}
    return tuple(sorted(found | {SOURCE_LANGUAGE}))


@cache
def _translations(
    language: str, locales_dir: Path = LOCALES_DIR
) -> gettext_module.NullTranslations:
    po_path = locales_dir / language / "LC_MESSAGES" / "messages.po"
    if not po_path.exists():
        return gettext_module.NullTranslations()
    with po_path.open("rb") as po_file:
        catalog = read_po(po_file, locale=language)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(fp=compiled)


# Where one language has catalogs for several regions: the region that speaks for the others
# (Portuguese from Angola, Mozambique or no region at all follows the European norm).
REGION_FOR_OTHERS = {"pt": "PT"}


@lru_cache(maxsize=1024)
def match_language(code: str | None, available: tuple[str, ...]) -> str | None:
    """The available language for a Telegram/IETF code.

    ``pt-br`` → ``pt_BR``, ``pt`` and ``pt-pt`` → ``pt_PT``; ``zh-tw`` and ``zh-hk`` →
    ``zh_Hant``; ``zh-cn`` → ``zh_Hans``; ``fr-ca`` → ``fr``.
    """
    if not code:
        return None
    try:
        wanted = Locale.parse(code.replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        return None
    by_region: dict[tuple[str, str | None], str] = {}
    by_script: dict[tuple[str, str | None], str] = {}
    for language in available:
        locale = Locale.parse(language)
        if locale.territory:
            by_region[(locale.language, locale.territory)] = language
        by_script[(locale.language, locale.script)] = language
        by_script.setdefault((locale.language, None), language)
    region = wanted.territory or None
    if (wanted.language, region) in by_region:
        return by_region[(wanted.language, region)]
    stand_in = REGION_FOR_OTHERS.get(wanted.language)
    if (wanted.language, stand_in) in by_region:
        return by_region[(wanted.language, stand_in)]
    # Likely-subtags make "zh_TW" carry the Hant script, "zh_CN" the Hans one.
    likely = likely_locale(wanted)
    script = wanted.script or (likely.script if likely else None)
    return by_script.get((wanted.language, script)) or by_script.get((wanted.language, None))


def likely_locale(locale: Locale) -> Locale | None:
    """What CLDR's likely subtags make of `locale`: zh_TW → zh_Hant_TW, pt → pt_Latn_BR."""
    from babel.core import get_global

    likely = get_global("likely_subtags")
    key = f"{locale.language}_{locale.territory}" if locale.territory else locale.language
    expanded = likely.get(key) or likely.get(locale.language)
    if not expanded:
        return None
    try:
        return Locale.parse(expanded)
    except (ValueError, UnknownLocaleError):
        return None


def resolve_language(
    stored: str | None,
    telegram_code: str | None,
    default: str,
    available: tuple[str, ...] | None = None,
) -> str:
    """Stored choice, else Telegram's language_code, else the petition's default."""
    languages = available or available_languages()
    for candidate in (stored, telegram_code):
        matched = match_language(candidate, languages)
        if matched:
            return matched
    return match_language(default, languages) or SOURCE_LANGUAGE


def requested_language(wanted: str | None, accept_language: str | None, default: str) -> str:
    """For a web page: `wanted` (a `?lang=`), else the best of the browser's Accept-Language
    we speak, else the default."""
    languages = available_languages()
    for candidate in [wanted, *accept_languages(accept_language or "")]:
        matched = match_language(candidate, languages) if candidate else None
        if matched:
            return matched
    return match_language(default, languages) or languages[0]


def accept_languages(header: str) -> list[str]:
    """The languages of an Accept-Language header, most wanted first (q=0 left out)."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")[:20]):
        tag, _, parameters = part.strip().partition(";")
        quality = 1.0
        if parameters.strip().startswith("q="):
            try:
                quality = float(parameters.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and tag != "*" and quality > 0:
            ranked.append((-quality, position, tag.replace("-", "_")))
    return [tag for _, _, tag in sorted(ranked)]


@dataclass(frozen=True, slots=True)
class Translator:
    """Everything language-dependent a screen needs: messages, plurals, numbers, dates."""

    language: str
    locale: Locale
    catalog: gettext_module.NullTranslations
    # The locale's thousands separator where plain groups of three write its whole numbers
    # exactly as Babel does (checked once, see `translator`); None: always ask Babel.
    group_separator: str | None = None

    def gettext(self, message: str) -> str:
        return self.catalog.gettext(message)

    def ngettext(self, singular: str, plural: str, count: int) -> str:
        return self.catalog.ngettext(singular, plural, count)

    def format(self, message: str, /, **values: object) -> str:
        """`message` (translated, or a template of our own) with each value isolated.

        Values go in as the message will show them: HTML escaped by the caller where the
        message is HTML, numbers and dates already formatted (`number`, `date`). A value that
        is HTML itself (``<code>…</code>``, a link) is isolated as a whole, outside its tags, so
        the message's tags stay balanced.
        """
        return message.format_map({name: isolated(str(value)) for name, value in values.items()})

    def format_list(self, items: Iterable[str]) -> str:
        """Names joined as a list in this language ("A, B and C", "A、B、C", "A وB وC"), each
        name isolated."""
        values = [isolated(item) for item in items]
        patterns = LIST_PATTERNS.get(self.locale.language)
        if patterns is None:
            return format_list(values, locale=self.locale)
        return _join(values, patterns)

    def isolate(self, text: str) -> str:
        """A number set into right-to-left text outside a message (`format` isolates those in
        every language): kept whole, its separators and signs in place."""
        return isolated(text) if self.right_to_left else text

    def number(self, value: int) -> str:
        if self.group_separator is not None and value >= 0:
            # Babel's general path costs ~20 µs, on several numbers of every screen.
            return self.isolate(f"{value:,}".replace(",", self.group_separator))
        return self.isolate(format_decimal(value, locale=self.locale))

    def percent(self, value: float) -> str:
        return self.isolate(format_percent(value, locale=self.locale))

    def date(self, value: datetime) -> str:
        return format_date(value, format="long", locale=self.locale)

    @property
    def right_to_left(self) -> bool:
        return is_right_to_left(self.language)


def _join(items: list[str], patterns: Mapping[str, str]) -> str:
    """Babel's `format_list` with patterns of our own."""
    if len(items) < 2:
        return "".join(items)
    if len(items) == 2:
        return patterns["2"].format(*items)
    joined = patterns["start"].format(items[0], items[1])
    for item in items[2:-1]:
        joined = patterns["middle"].format(joined, item)
    return patterns["end"].format(joined, items[-1])


_SAMPLE_NUMBERS = (0, 7, 999, 1_234, 12_345, 123_456, 1_234_567, 1_000_000_000)


@cache
def translator(language: str) -> Translator:
    locale = Locale.parse(language)
    plain = Translator(language=language, locale=locale, catalog=_translations(language))
    separator = locale.number_symbols.get("latn", {}).get("group")
    if separator is None:
        return plain
    fast = replace(plain, group_separator=separator)
    agrees = all(fast.number(value) == plain.number(value) for value in _SAMPLE_NUMBERS)
    return fast if agrees else plain
