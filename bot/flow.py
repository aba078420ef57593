"""The signing journey as a pure state machine.

    step(journey, event, facts) -> Outcome

No Telegram, no I/O, no clock of its own: everything the rules need arrives in `facts`, and
everything they decide leaves in the `Outcome` (the new journey, a notice to show, whether to
record the signature now). See `docs/journey.mmd` for the diagram.

Buttons carry callback data of the form ``<step>:<action>[:<argument>]``. A press whose step is
not the supporter's current step comes from an old message (or was forged): it gets a gentle
notice and the current step again, never an error.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from bot.countries import is_country_code, search_countries
from bot.petition import Petition
from storage.records import Journey, Signature, Step

# Steps a supporter can be sent back to with "Continue where I left off".
RESUMABLE = frozenset(
    {
        Step.DEMANDS,
        Step.COUNTRY,
        Step.SEARCH,
        Step.AGE,
        Step.GUARDIAN,
        Step.CONSENT,
        Step.NAME,
        Step.PREVIEW,
    }
)
# Steps that accept typed text as an answer.
TEXT_STEPS = frozenset({Step.COUNTRY, Step.SEARCH, Step.NAME})

BACK = {
    Step.DEMANDS: Step.INTRO,
    Step.COUNTRY: Step.DEMANDS,
    Step.SEARCH: Step.COUNTRY,
    Step.AGE: Step.COUNTRY,
    Step.GUARDIAN: Step.AGE,
    Step.CONSENT: Step.AGE,
    Step.NAME: Step.CONSENT,
    Step.PREVIEW: Step.NAME,
}

NAME_MIN_LENGTH = 2
NAME_MAX_LENGTH = 64
SEARCH_QUERY_MAX_LENGTH = 60
REFERRAL_PAYLOAD = re.compile(r"^r_([A-Za-z0-9_-]{4,32})$")


class Notice(StrEnum):
    STALE_BUTTON = "stale_button"
    USE_BUTTONS = "use_buttons"
    UNKNOWN_COMMAND = "unknown_command"
    CANCELLED = "cancelled"
    NO_COUNTRY_MATCH = "no_country_match"
    NAME_TOO_SHORT = "name_too_short"
    NAME_TOO_LONG = "name_too_long"
    NAME_HAS_CONTROL_CHARACTERS = "name_has_control_characters"
    NAME_HAS_LINK = "name_has_link"
    NAME_NEEDS_LETTERS = "name_needs_letters"
    NAME_REQUIRED = "name_required"
    TEXT_EXPECTED = "text_expected"
    WELCOME_BACK = "welcome_back"
    NOT_SIGNED = "not_signed"  # /withdraw without a signature


class Info(StrEnum):
    """Commands answered with an information message, leaving the journey as it is."""

    HELP = "help"
    STATUS = "status"
    PRIVACY = "privacy"
    LANGUAGE = "language"  # the language picker; picking re-renders the current step
    MY_DATA = "my_data"  # everything stored about the supporter
    MY_LINK = "my_link"  # the supporter's share link, and how many signed through it


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    payload: str = ""


@dataclass(frozen=True, slots=True)
class Pressed:
    data: str


@dataclass(frozen=True, slots=True)
class Typed:
    text: str


Event = Command | Pressed | Typed


@dataclass(frozen=True, slots=True)
class Facts:
    petition: Petition
    now: datetime
    signature: Signature | None = None
    profile_name: str = ""
    language: str = "en"
    languages: tuple[str, ...] = ("en",)  # the languages a supporter can choose from


@dataclass(frozen=True, slots=True)
class Outcome:
    journey: Journey
    notice: Notice | None = None
    info: Info | None = None
    sign: bool = False  # the edge must record the signature now, then show Step.SIGNED
    withdraw: bool = False  # the edge must remove the signature now, then show Step.WITHDRAWN
    notice_args: dict[str, str] = field(default_factory=dict)
    language: str | None = None  # the supporter chose this language: store it, speak it


# The journey funnel admins see in /stats: each supporter counts once per stage reached.
FUNNEL_STAGES = ("started", "demands", "country", "age", "consent", "signed")
_FUNNEL_PROGRESS = {
    Step.COUNTRY: 2,  # read the demands
    Step.SEARCH: 2,
    Step.AGE: 3,  # chose a country
    Step.GUARDIAN: 3,
    Step.LEFT: 3,
    Step.CONSENT: 4,  # confirmed their age
    Step.NAME: 5,  # gave consent
    Step.PREVIEW: 5,
    Step.SIGNED: 6,
    Step.DONE: 6,
}


def funnel_progress(step: Step) -> int:
    """How many funnel stages a supporter on this step has passed (1: started)."""
    return _FUNNEL_PROGRESS.get(step, 1)


def track_progress(before: Journey, after: Journey) -> tuple[Journey, tuple[str, ...]]:
    """`after` with its funnel progress brought up to date, and the stages newly reached.

    Kept apart from `step` so the rules stay about the journey itself; the edge calls it
    once per event. Progress never goes down: going back or starting over is not un-reading.
    """
    progress = max(before.progress, after.progress, funnel_progress(after.step))
    return replace(after, progress=progress), FUNNEL_STAGES[before.progress : progress]


def step(journey: Journey, event: Event, facts: Facts) -> Outcome:
    """Apply one supporter event to their journey."""
    if isinstance(event, Command):
        info = _INFO_COMMANDS.get(event.name)
        if info is not None:
            return Outcome(journey, info=info)
    if isinstance(event, Pressed) and event.data.startswith(LANGUAGE_PREFIX):
        return _on_language(journey, event.data.removeprefix(LANGUAGE_PREFIX), facts)
    if isinstance(event, Command) and event.name == "withdraw":
        return _on_withdraw_command(journey, facts)
    if facts.signature is not None:
        if journey.step == Step.WITHDRAW and isinstance(event, Pressed):
            return _on_withdraw_press(journey, event.data)
        return _after_signing(journey, event)
    if facts.petition.closed_reason(facts.now) is not None:
        return Outcome(replace(journey, step=Step.CLOSED), notice=_stale_if_pressed(event))
    if journey.step in (Step.SIGNED, Step.DONE, Step.CLOSED, Step.WITHDRAW):
        # Signature withdrawn or petition reopened: start again from the welcome.
        journey = journey.restarted()
    if isinstance(event, Command):
        return _on_command(journey, event)
    if isinstance(event, Typed):
        return _on_text(journey, event.text, facts)
    return _on_press(journey, event.data, facts)


_INFO_COMMANDS = {
    "help": Info.HELP,
    "status": Info.STATUS,
    "privacy": Info.PRIVACY,
    "language": Info.LANGUAGE,
    "mydata": Info.MY_DATA,
    "mylink": Info.MY_LINK,
}
# Language buttons work on any step: choosing a language never moves the journey.
LANGUAGE_PREFIX = "lang:"


def _on_language(journey: Journey, language: str, facts: Facts) -> Outcome:
    if language not in facts.languages:
        return Outcome(journey, notice=Notice.STALE_BUTTON)
    if facts.signature is not None:
        journey = replace(journey.restarted(), step=Step.DONE)
    elif facts.petition.closed_reason(facts.now) is not None:
        journey = replace(journey, step=Step.CLOSED)
    return Outcome(journey, language=language)


def _stale_if_pressed(event: Event) -> Notice | None:
    return Notice.STALE_BUTTON if isinstance(event, Pressed) else None


def _on_withdraw_command(journey: Journey, facts: Facts) -> Outcome:
    if facts.signature is None:
        return Outcome(journey, notice=Notice.NOT_SIGNED)
    return Outcome(replace(journey.restarted(), step=Step.WITHDRAW))


def _on_withdraw_press(journey: Journey, data: str) -> Outcome:
    if data == "withdraw:confirm":
        return Outcome(replace(journey, step=Step.WITHDRAWN), withdraw=True)
    if data == "withdraw:keep":
        return Outcome(replace(journey, step=Step.DONE))
    return Outcome(journey, notice=Notice.STALE_BUTTON)


def _after_signing(journey: Journey, event: Event) -> Outcome:
    notice = _stale_if_pressed(event)
    if isinstance(event, Command) and event.name not in ("start", "cancel"):
        notice = Notice.UNKNOWN_COMMAND
    return Outcome(replace(journey.restarted(), step=Step.DONE), notice=notice)


def referral_code(payload: str) -> str | None:
    """The referrer's code from a `/start r_<code>` deep link; anything else is ignored."""
    match = REFERRAL_PAYLOAD.match(payload.strip())
    return match.group(1) if match else None


def _on_command(journey: Journey, command: Command) -> Outcome:
    if command.name == "start":
        referrer = journey.referrer or referral_code(command.payload)
        if journey.step in RESUMABLE:
            resumed = replace(journey, step=Step.INTRO, resume_step=journey.step, referrer=referrer)
            return Outcome(resumed, notice=Notice.WELCOME_BACK)
        if journey.step == Step.INTRO and journey.resume_step is not None:
            return Outcome(replace(journey, referrer=referrer), notice=Notice.WELCOME_BACK)
        return Outcome(replace(journey.restarted(), referrer=referrer))
    if command.name == "cancel":
        return Outcome(journey.restarted(), notice=Notice.CANCELLED)
    return Outcome(journey, notice=Notice.UNKNOWN_COMMAND)


def _on_text(journey: Journey, text: str, facts: Facts) -> Outcome:
    printable = "".join(ch for ch in text if not unicodedata.category(ch).startswith("C"))
    if not printable.strip():  # a sticker, a photo, or only invisible characters
        notice = Notice.TEXT_EXPECTED if journey.step in TEXT_STEPS else Notice.USE_BUTTONS
        return Outcome(journey, notice=notice)
    if journey.step in (Step.COUNTRY, Step.SEARCH):
        query = search_query(printable)
        matches = tuple(search_countries(query, facts.language))
        searching = replace(journey, step=Step.SEARCH, country_matches=matches)
        if matches:
            return Outcome(searching)
        return Outcome(searching, notice=Notice.NO_COUNTRY_MATCH, notice_args={"query": query})
    if journey.step == Step.NAME:
        name, problem = validate_name(text)
        if problem is not None:
            return Outcome(journey, notice=problem, notice_args=_name_limits())
        return Outcome(replace(journey, step=Step.PREVIEW, name=name))
    return Outcome(journey, notice=Notice.USE_BUTTONS)


def search_query(text: str) -> str:
    """A typed country search as it is searched (the Mini App's search box goes through this
    too): invisible characters dropped, spaces collapsed, at most SEARCH_QUERY_MAX_LENGTH."""
    printable = "".join(ch for ch in text if not unicodedata.category(ch).startswith("C"))
    return " ".join(printable.split())[:SEARCH_QUERY_MAX_LENGTH]


def _on_press(journey: Journey, data: str, facts: Facts) -> Outcome:
    prefix, _, rest = data.partition(":")
    action, _, argument = rest.partition(":")
    stale = Outcome(journey, notice=Notice.STALE_BUTTON)
    if prefix != journey.step.value or (argument and action != "pick"):
        return stale
    if action == "back" and journey.step in BACK:
        return Outcome(replace(journey, step=BACK[journey.step]))
    here = journey.step
    if here == Step.INTRO:
        if action == "language":
            return Outcome(journey, info=Info.LANGUAGE)
        if action == "demands":
            return Outcome(replace(journey, step=Step.DEMANDS, resume_step=None))
        if action == "sign":
            return Outcome(replace(journey.restarted(), step=Step.COUNTRY))
        if action == "resume" and journey.resume_step in RESUMABLE:
            return Outcome(replace(journey, step=journey.resume_step, resume_step=None))
    elif here == Step.DEMANDS and action == "sign":
        return Outcome(replace(journey.restarted(), step=Step.COUNTRY))
    elif here in (Step.COUNTRY, Step.SEARCH) and action == "pick" and is_country_code(argument):
        return Outcome(replace(journey, step=Step.AGE, country=argument, country_matches=()))
    elif here == Step.COUNTRY and action == "other":
        return Outcome(replace(journey, step=Step.SEARCH, country_matches=()))
    elif here == Step.AGE and action in ("yes", "no"):
        old_enough = action == "yes"
        answered = replace(
            journey,
            step=Step.CONSENT if old_enough else Step.GUARDIAN,
            meets_minimum_age=old_enough,
            answered_minimum_age=minimum_age(facts.petition, journey),
            guardian_consent=False,
        )
        return Outcome(answered)
    elif here == Step.GUARDIAN and action == "yes":
        return Outcome(replace(journey, step=Step.CONSENT, guardian_consent=True))
    elif here == Step.GUARDIAN and action == "leave":
        return Outcome(replace(journey.restarted(), step=Step.LEFT))
    elif here == Step.CONSENT and action == "updates":
        return Outcome(replace(journey, wants_updates=not journey.wants_updates))
    elif here == Step.CONSENT and action == "agree":
        return Outcome(replace(journey, step=Step.NAME, consent=True))
    elif here == Step.NAME and action == "use":
        name = journey.name or suggested_name(facts.profile_name)
        if name is None:
            return Outcome(journey, notice=Notice.NAME_REQUIRED, notice_args=_name_limits())
        return Outcome(replace(journey, step=Step.PREVIEW, name=name))
    elif here == Step.PREVIEW and action == "sign" and ready_to_sign(journey, facts):
        return Outcome(replace(journey, step=Step.SIGNED), sign=True)
    elif here == Step.PREVIEW and action == "sign" and _age_rule_changed(journey, facts):
        return Outcome(replace(journey, step=Step.AGE, meets_minimum_age=None))  # ask again
    elif here in (Step.LEFT, Step.WITHDRAWN) and action == "restart":
        return Outcome(journey.restarted())
    return stale


def minimum_age(petition: Petition, journey: Journey) -> int:
    """The petition's minimum age for the supporter's country (under it: a guardian's consent)."""
    return petition.age.minimum_for(journey.country or "")


def _age_answer_holds(journey: Journey, facts: Facts) -> bool:
    """The supporter answered the age question, against the rule that holds now."""
    return journey.answered_minimum_age == minimum_age(facts.petition, journey) and (
        journey.meets_minimum_age is True or journey.guardian_consent
    )


def _age_rule_changed(journey: Journey, facts: Facts) -> bool:
    """They answered the age question, but against a rule that no longer holds for their
    country (the petition file was edited since), or before the bot noted which rule it was."""
    return bool(journey.country) and (
        journey.meets_minimum_age is not None
        and journey.answered_minimum_age != minimum_age(facts.petition, journey)
    )


def ready_to_sign(journey: Journey, facts: Facts) -> bool:
    """Every answer the signature needs is present, under today's rules (a forged jump to
    preview cannot sign, nor an age answer given against a rule that has changed)."""
    return bool(
        journey.country and _age_answer_holds(journey, facts) and journey.consent and journey.name
    )


def _name_limits() -> dict[str, str]:
    return {"min": str(NAME_MIN_LENGTH), "max": str(NAME_MAX_LENGTH)}


# Zero-width joiner/non-joiner are part of correct spelling in several scripts (Persian, Indic);
# every other invisible format character (bidi overrides, zero-width space) is refused.
_ALLOWED_FORMAT_CHARACTERS = frozenset({"\u200c", "\u200d"})
# Written so that JavaScript reads it the same (case-insensitive): the Mini App checks names
# as they are typed with this very pattern (bot/form_texts.py sends it).
LINK_PATTERN = "|".join(
    [
        "://",
        r"\bwww\.",
        r"\bt\.me\b",
        r"\btelegram\.(me|dog)\b",
        "@[a-z0-9_]{4,}",
        r"\b[a-z0-9-]{2,}\.(com|net|org|info|io|me|ru|cn|xyz|top|site|online|link|ly|gl|co|app"
        r"|biz|shop|club|live|pro|tk|ml|ga|cf|gq|uk|de|fr|us)\b",
    ]
)
_LINK = re.compile(LINK_PATTERN, re.IGNORECASE)


def validate_name(raw: str) -> tuple[str, Notice | None]:
    """Normalize a typed name and say what is wrong with it, if anything."""
    name = " ".join(unicodedata.normalize("NFC", raw).split())
    if any(_is_control(character) for character in name):
        return name, Notice.NAME_HAS_CONTROL_CHARACTERS
    if len(name) < NAME_MIN_LENGTH:
        return name, Notice.NAME_TOO_SHORT
    if len(name) > NAME_MAX_LENGTH:
        return name, Notice.NAME_TOO_LONG
    if _LINK.search(name):
        return name, Notice.NAME_HAS_LINK
    if not any(unicodedata.category(character).startswith("L") for character in name):
        return name, Notice.NAME_NEEDS_LETTERS
    return name, None


def _is_control(character: str) -> bool:
    category = unicodedata.category(character)
    if category == "Cf":
        return character not in _ALLOWED_FORMAT_CHARACTERS
    return category in ("Cc", "Cs", "Co", "Cn")


def suggested_name(profile_name: str) -> str | None:
    """The Telegram profile name, if it would pass as a typed name."""
    name, problem = validate_name(profile_name)
    return name if problem is None else None
