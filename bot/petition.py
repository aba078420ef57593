"""The petition file: a TOML document validated by pydantic.

A campaign writes its petition once; everything a supporter reads about it (title, demands,
consent wording, privacy note) comes from here, translated per language with a per-field
fallback to the petition's default language.
"""

from __future__ import annotations

import re
import tomllib
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated

from babel import Locale, UnknownLocaleError
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.countries import is_country_code
from bot.telegram_html import telegram_html_problem


def _country_code(value: str) -> str:
    code = value.strip().upper()
    if not is_country_code(code):
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
    return code


CountryCode = Annotated[str, AfterValidator(_country_code)]
NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


def _telegram_html(value: str) -> str:
    problem = telegram_html_problem(value)
    if problem:
        raise ValueError(f"Telegram would refuse this text: {problem}")
    return value


# Text shown in Telegram messages: checked against Telegram's HTML subset when loaded.
Html = Annotated[NonEmpty, AfterValidator(_telegram_html)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_telegram_html),
]


class PartialPetitionText(Strict):
    """The wording in one language as written in the file: any field may be left out."""

    title: Title | None = None
    summary: Html | None = None
    background: Html | None = None
    demands: list[Html] | None = None
    consent: Html | None = None
    privacy: Html | None = None


class PetitionText(PartialPetitionText):
    """The wording a supporter reads: missing fields already filled from the default language."""

    title: Title


class Source(Strict):
    title: NonEmpty  # plain text: the screens escape it
    url: HttpUrl


class AgeRules(Strict):
    """Minimum age to sign without a parent's or guardian's consent, per country."""

    default: int = Field(default=16, ge=0, le=25)
    by_country: dict[CountryCode, Annotated[int, Field(ge=0, le=25)]] = Field(default_factory=dict)

    def minimum_for(self, country: str) -> int:
        return self.by_country.get(country, self.default)


def _end_of_day_utc(value: object) -> object:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value) if len(value) > 10 else date.fromisoformat(value)
        except ValueError:
            return value  # pydantic reports it
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("give a time zone, e.g. 2027-12-31T23:59:59Z")
        return value
    if isinstance(value, date):
        return datetime.combine(value, time(23, 59, 59), tzinfo=UTC)
    return value


PETITION_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def _petition_id(value: str) -> str:
    # Telegram's start parameter allows A-Z a-z 0-9 _ - and 64 characters; lowercase and
    # hyphens keep ids readable in links and apart from the `r_` of share codes.
    if not PETITION_ID.match(value):
        raise ValueError(
            "use 1 to 63 lowercase letters, digits and hyphens (it is the petition's "
            "t.me/<bot>?start=<id> link)"
        )
    return value


class Petition(Strict):
    id: Annotated[str, AfterValidator(_petition_id)]
    version: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
    default_language: str = "en"
    goal: int = Field(gt=0)
    auto_raise_goal: bool = True
    # Counts at which admins are told the news (reaching the goal always tells them too).
    milestones: list[Annotated[int, Field(gt=0)]] = Field(
        default_factory=lambda: [1_000, 10_000, 100_000, 1_000_000]
    )
    deadline: datetime | None = None
    paused: bool = False
    targets: list[CountryCode] = Field(min_length=1)
    popular_countries: list[CountryCode] = Field(default_factory=list, max_length=8)
    privacy_url: HttpUrl | None = None
    age: AgeRules = Field(default_factory=AgeRules)
    sources: list[Source] = Field(default_factory=list)
    text: dict[str, PartialPetitionText]
    # `text_for` per language, built once (a build validates every field's HTML again), for
    # the `text` it was built from: a copy with other wording gets a cache of its own.
    _texts: dict[str, PetitionText] = PrivateAttr(default_factory=dict)
    _texts_of: object = PrivateAttr(default=None)

    _normalize_deadline = field_validator("deadline", mode="before")(_end_of_day_utc)

    @field_validator("default_language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        try:
            Locale.parse(value)
        except (ValueError, UnknownLocaleError):
            raise ValueError(f"{value!r} is not a known language code") from None
        return value

    @field_validator("text")
    @classmethod
    def _language_codes(cls, value: dict[str, PartialPetitionText]) -> dict[str, object]:
        # Keys are matched to supporters' languages as written: "FR" or "pt-br" would load
        # and never be shown (or crash Babel later), so say how to write them instead.
        for code in value:
            try:
                canonical = str(Locale.parse(code.replace("-", "_")))
            except (ValueError, TypeError, UnknownLocaleError):
                raise ValueError(f"[text.{code}]: {code!r} is not a known language code") from None
            if canonical != code:
                raise ValueError(f"[text.{code}]: write the language code as {canonical!r}")
        return value

    @model_validator(mode="after")
    def _default_language_is_complete(self) -> Petition:
        base = self.text.get(self.default_language)
        if base is None:
            raise ValueError(f"text.{self.default_language} (the default language) is missing")
        missing = [
            name
            for name in ("title", "summary", "demands", "consent", "privacy")
            if not getattr(base, name)
        ]
        if missing:
            raise ValueError(f"text.{self.default_language} needs: {', '.join(missing)}")
        return self

    @property
    def quick_countries(self) -> list[str]:
        return self.popular_countries or self.targets[:8]

    @property
    def languages(self) -> list[str]:
        return list(self.text)

    def _written_in(self, language: str) -> str | None:
        """The file's own language serving `language`: itself, else the language it is a
        variant of (pt for pt_BR); None when the file has neither."""
        for candidate in (language, language.split("_")[0]):
            if candidate in self.text:
                return candidate
        return None

    def has_text_in(self, language: str) -> bool:
        """Whether the file has wording of its own in `language` (else the default's is shown)."""
        return self._written_in(language) is not None

    def text_language(self, language: str, field: str) -> str:
        """The language `field` of `text_for(language)` is written in: `language` (or the
        language it is a variant of) when the file has that field in it, else the default."""
        own = self._written_in(language)
        if own is not None and getattr(self.text[own], field) is not None:
            return own
        return self.default_language

    def text_for(self, language: str) -> PetitionText:
        """The wording in `language`, each missing field taken from the default language."""
        if self._texts_of is not self.text:
            self._texts, self._texts_of = {}, self.text
        cached = self._texts.get(language)
        if cached is not None:
            return cached
        base = self.text[self.default_language]
        own = self._written_in(language)
        chosen = self.text[own] if own is not None else None
        merged = base.model_dump()
        if chosen is not None:
            merged.update(chosen.model_dump(exclude_none=True))
        text = self._texts[language] = PetitionText(**merged)
        return text

    def with_live(self, goal: int | None, paused: bool | None) -> Petition:
        """This petition with the goal and pause admins set while it runs (None: the file's)."""
        changes = {
            name: value for name, value in (("goal", goal), ("paused", paused)) if value is not None
        }
        return self.model_copy(update=changes) if changes else self

    def goal_for(self, count: int) -> int:
        """The goal shown next to `count` signatures (see `current_goal`)."""
        return current_goal(self.goal, count, auto_raise=self.auto_raise_goal)

    def closed_reason(self, now: datetime) -> str | None:
        """'paused' or 'ended' when no new signatures are accepted, else None."""
        if self.paused:
            return "paused"
        if self.deadline is not None and now > self.deadline:
            return "ended"
        return None


class PetitionFileError(Exception):
    """The petition file cannot be read or is invalid; the message names the field."""


def load_petition(path: Path) -> Petition:
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise PetitionFileError(f"PETITION_FILE: cannot read {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise PetitionFileError(f"PETITION_FILE: {path} is not valid TOML: {error}") from None
    try:
        return Petition.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "petition"
        message = first["msg"].removeprefix("Value error, ")
        raise PetitionFileError(f"PETITION_FILE: {path}: {where}: {message}") from None


def milestones_reached(petition: Petition, goal: int | None, total: int) -> list[int]:
    """Marks a signature that brought the count to `total` has just reached.

    `goal` is the live goal (None: the petition file's); reaching the goal shown before this
    signature is a milestone too, so admins hear of it as the goal rises to its next step.
    """
    shown = petition.with_live(goal, None).goal_for(total - 1)
    return sorted({mark for mark in [*petition.milestones, shown] if mark == total})


def current_goal(petition_goal: int, count: int, *, auto_raise: bool = True) -> int:
    """The goal shown next to the count: raised to the next round step once reached.

    Steps follow the 1-2.5-5 series large petition sites use (50 → 100 → 250 → 500 → 1,000 …),
    so "1,234 have signed · goal 2,500" always shows a reachable next target.
    """
    if not auto_raise or count < petition_goal:
        return petition_goal
    magnitude = 10
    while True:
        for factor in (1, 2.5, 5):
            step = int(magnitude * factor)
            if step > count and step > petition_goal:
                return step
        magnitude *= 10
