"""The Mini App's signing form, decided by the chat's own rules.

The form collects on one page what the chat asks step by step. Rather than a second copy of
the rules, its answers are replayed as the presses and the typed name a supporter would send
in the chat (`bot.flow.step`, one event after another, from the welcome screen to "Sign now").
The step where the journey stops names the field that is wrong, and the flow's own notice says
why; when the flow says `sign`, the form signs. Pure, like `bot.flow`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bot import flow
from bot.flow import Event, Facts, Notice, Pressed, Typed
from bot.petition import Petition
from storage.records import Journey, Signature, Step


class Field(StrEnum):
    """The form's fields, named as in the API's JSON."""

    PETITION = "petition"  # closed or paused: nothing on the form can fix that
    COUNTRY = "country"
    AGE = "age_confirmed"
    GUARDIAN = "guardian_consent"
    CONSENT = "consent"
    NAME = "name"


# Where the replay stops → the field to fix (a journey stops where an answer was missing).
FIELD_AT_STEP = {
    Step.INTRO: Field.PETITION,
    Step.CLOSED: Field.PETITION,
    Step.COUNTRY: Field.COUNTRY,
    Step.SEARCH: Field.COUNTRY,
    Step.AGE: Field.AGE,
    Step.GUARDIAN: Field.GUARDIAN,
    Step.CONSENT: Field.CONSENT,
    Step.NAME: Field.NAME,
    Step.PREVIEW: Field.AGE,  # an age answer given against a rule that changed meanwhile
}


@dataclass(frozen=True, slots=True)
class Form:
    """The supporter's answers, as the page sends them."""

    country: str
    age_confirmed: bool  # "I am {age} or older" (else: younger)
    guardian_consent: bool  # only asked of the younger ones
    consent: bool
    wants_updates: bool
    name: str


@dataclass(frozen=True, slots=True)
class Filled:
    """How the replay ended: `sign` with the journey to record, `signed_before`, or the
    `field` to fix with the flow's `notice` about it (None when the field itself says it)."""

    journey: Journey
    sign: bool = False
    signed_before: bool = False
    field: Field | None = None
    notice: Notice | None = None


def events_of(form: Form) -> list[Event]:
    """The form's answers as the chat's presses and messages, in the chat's order."""
    events: list[Event] = [
        Pressed("intro:sign"),
        Pressed(f"country:pick:{form.country}"),
        Pressed("age:yes" if form.age_confirmed else "age:no"),
    ]
    if not form.age_confirmed and form.guardian_consent:
        events.append(Pressed("guardian:yes"))
    if form.wants_updates:
        events.append(Pressed("consent:updates"))
    if form.consent:
        events.append(Pressed("consent:agree"))
    events += [Typed(form.name), Pressed("preview:sign")]
    return events


def fill(journey: Journey, form: Form, facts: Facts) -> Filled:
    """Play the form through the flow from `journey` (the supporter's, restarted)."""
    for event in events_of(form):
        outcome = flow.step(journey, event, facts)
        if outcome.sign:
            return Filled(outcome.journey, sign=True)
        if outcome.journey.step == Step.DONE:  # the flow's answer to anyone who has signed
            return Filled(outcome.journey, signed_before=True)
        if outcome.journey == journey or outcome.notice is not None:
            return Filled(journey, field=FIELD_AT_STEP.get(journey.step), notice=outcome.notice)
        journey = outcome.journey
    return Filled(journey, field=FIELD_AT_STEP.get(journey.step))


def form_journey(stored: Journey | None) -> Journey:
    """Where the replay starts: a fresh journey that keeps the referrer (a share link opened
    in the chat still counts) and the funnel progress, whatever step the chat was on."""
    return (stored or Journey()).restarted()


@dataclass(frozen=True, slots=True)
class FormState:
    """A supporter's form as the service sees it, for the page (bot.form_texts words it)."""

    petition: Petition  # with the goal and pause admins set live
    language: str
    now: datetime
    signature: Signature | None  # theirs, if they have signed (now or before)
    total: int
    filled: Filled | None = None  # the answers through the flow; None: the form just opened
    created: bool = False  # the signature was recorded by this very form
