"""The journey's rules on plain values: no Telegram, no database, no clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from bot.flow import (
    Command,
    Facts,
    Info,
    Notice,
    Pressed,
    Typed,
    referral_code,
    step,
    suggested_name,
    validate_name,
)
from bot.petition import Petition
from storage.records import Journey, Signature, Step
from tests.conftest import NOW, make_petition


def facts(petition: Petition, **overrides: object) -> Facts:
    base = Facts(petition=petition, now=NOW, profile_name="Ada Lovelace", language="en")
    return replace(base, **overrides)  # type: ignore[arg-type]


def walk(petition: Petition, *events: object, journey: Journey | None = None) -> Journey:
    current = journey or Journey()
    for event in events:
        current = step(current, event, facts(petition)).journey  # type: ignore[arg-type]
    return current


TO_PREVIEW = (
    Command("start"),
    Pressed("intro:sign"),
    Pressed("country:pick:CA"),
    Pressed("age:yes"),
    Pressed("consent:agree"),
    Pressed("name:use"),
)


def test_happy_path_reaches_preview_then_signs(petition: Petition) -> None:
    journey = walk(petition, *TO_PREVIEW)
    assert journey.step == Step.PREVIEW
    assert (journey.country, journey.name, journey.consent) == ("CA", "Ada Lovelace", True)
    assert journey.wants_updates is False  # the updates opt-in is unticked by default
    outcome = step(journey, Pressed("preview:sign"), facts(petition))
    assert outcome.sign is True
    assert outcome.journey.step == Step.SIGNED


def test_reading_the_demands_is_on_the_way(petition: Petition) -> None:
    journey = walk(petition, Command("start"), Pressed("intro:demands"))
    assert journey.step == Step.DEMANDS
    assert walk(petition, Pressed("demands:sign"), journey=journey).step == Step.COUNTRY
    assert walk(petition, Pressed("demands:back"), journey=journey).step == Step.INTRO


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (Step.DEMANDS, Step.INTRO),
        (Step.COUNTRY, Step.DEMANDS),
        (Step.SEARCH, Step.COUNTRY),
        (Step.AGE, Step.COUNTRY),
        (Step.GUARDIAN, Step.AGE),
        (Step.CONSENT, Step.AGE),
        (Step.NAME, Step.CONSENT),
        (Step.PREVIEW, Step.NAME),
    ],
)
def test_every_step_has_back(petition: Petition, at: Step, expected: Step) -> None:
    journey = Journey(step=at, country="CA")
    outcome = step(journey, Pressed(f"{at.value}:back"), facts(petition))
    assert outcome.journey.step == expected
    assert outcome.journey.country == "CA"  # going back keeps the answers
    assert outcome.notice is None


def test_updates_opt_in_toggles_and_is_separate_from_consent(petition: Petition) -> None:
    journey = Journey(step=Step.CONSENT, country="CA", meets_minimum_age=True)
    ticked = walk(petition, Pressed("consent:updates"), journey=journey)
    assert ticked.wants_updates is True and ticked.consent is False
    unticked = walk(petition, Pressed("consent:updates"), journey=ticked)
    assert unticked.wants_updates is False


def test_typing_a_country_searches_in_any_case_and_accent(petition: Petition) -> None:
    journey = walk(petition, Command("start"), Pressed("intro:sign"), Typed("  cote d'IVOIRE "))
    assert journey.step == Step.SEARCH
    assert journey.country_matches[0] == "CI"
    picked = walk(petition, Pressed("search:pick:CI"), journey=journey)
    assert (picked.step, picked.country, picked.country_matches) == (Step.AGE, "CI", ())


def test_other_country_then_no_match_says_so(petition: Petition) -> None:
    journey = walk(petition, Command("start"), Pressed("intro:sign"), Pressed("country:other"))
    assert journey.step == Step.SEARCH
    outcome = step(journey, Typed("Atlantis"), facts(petition))
    assert outcome.notice == Notice.NO_COUNTRY_MATCH
    assert outcome.notice_args == {"query": "Atlantis"}
    assert outcome.journey.step == Step.SEARCH


def test_under_age_needs_guardian_consent(petition: Petition) -> None:
    journey = walk(petition, Command("start"), Pressed("intro:sign"), Pressed("country:pick:US"))
    younger = walk(petition, Pressed("age:no"), journey=journey)
    assert younger.step == Step.GUARDIAN
    allowed = walk(petition, Pressed("guardian:yes"), journey=younger)
    assert (allowed.step, allowed.guardian_consent) == (Step.CONSENT, True)
    left = walk(petition, Pressed("guardian:leave"), journey=younger)
    assert left.step == Step.LEFT
    assert left.country is None  # leaving forgets the answers
    assert walk(petition, Pressed("left:restart"), journey=left).step == Step.INTRO


def test_changing_age_answer_clears_guardian_consent(petition: Petition) -> None:
    journey = Journey(step=Step.AGE, country="US", guardian_consent=True)
    assert walk(petition, Pressed("age:yes"), journey=journey).guardian_consent is False


def test_stale_and_forged_buttons_get_a_notice_and_the_current_step(petition: Petition) -> None:
    journey = walk(petition, *TO_PREVIEW)
    for data in [
        "age:yes",
        "country:pick:CA",
        "preview:sign:now",
        "preview:nonsense",
        "",
        ":::",
        "x" * 64,
        "preview",
        "country:pick:ZZ",
        "intro:resume",
    ]:
        outcome = step(journey, Pressed(data), facts(petition))
        assert outcome.journey == journey, data
        assert outcome.notice == Notice.STALE_BUTTON, data
        assert outcome.sign is False


def test_invalid_country_codes_are_refused(petition: Petition) -> None:
    journey = Journey(step=Step.COUNTRY)
    for code in ["ZZ", "EU", "ca", "USA", "", "C A"]:
        outcome = step(journey, Pressed(f"country:pick:{code}"), facts(petition))
        assert outcome.notice == Notice.STALE_BUTTON, code


def test_a_forged_sign_press_without_answers_cannot_sign(petition: Petition) -> None:
    journey = Journey(step=Step.PREVIEW, name="Ada")  # no country, no consent
    outcome = step(journey, Pressed("preview:sign"), facts(petition))
    assert outcome.sign is False
    assert outcome.notice == Notice.STALE_BUTTON


def test_text_where_buttons_are_expected(petition: Petition) -> None:
    journey = Journey(step=Step.CONSENT, country="CA", meets_minimum_age=True)
    outcome = step(journey, Typed("yes I agree"), facts(petition))
    assert (outcome.journey, outcome.notice) == (journey, Notice.USE_BUTTONS)
    assert step(journey, Typed(""), facts(petition)).notice == Notice.USE_BUTTONS
    assert step(Journey(step=Step.NAME), Typed(""), facts(petition)).notice == Notice.TEXT_EXPECTED


def test_typed_name_is_validated(petition: Petition) -> None:
    journey = Journey(step=Step.NAME, country="CA", meets_minimum_age=True, consent=True)
    bad = step(journey, Typed("visit https://spam.example"), facts(petition))
    assert bad.notice == Notice.NAME_HAS_LINK and bad.journey == journey
    good = step(journey, Typed("  Grace   Hopper "), facts(petition))
    assert (good.journey.step, good.journey.name) == (Step.PREVIEW, "Grace Hopper")


def test_name_use_without_a_usable_profile_name_asks_to_type(petition: Petition) -> None:
    journey = Journey(step=Step.NAME)
    outcome = step(journey, Pressed("name:use"), facts(petition, profile_name="🙂"))
    assert outcome.notice == Notice.NAME_REQUIRED
    assert outcome.journey.step == Step.NAME


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("Ada Lovelace", None),
        ("李小龍", None),
        ("محمد علی", None),
        ("می‌خواهم", None),  # zero-width non-joiner is part of Persian spelling
        ("Jean-Luc O'Neill", None),
        ("J. R. R. Tolkien", None),
        ("A", Notice.NAME_TOO_SHORT),
        ("x" * 65, Notice.NAME_TOO_LONG),
        ("Ada\x00Lovelace", Notice.NAME_HAS_CONTROL_CHARACTERS),
        ("Ada\u202eecalevol", Notice.NAME_HAS_CONTROL_CHARACTERS),
        ("Ada\u200bLovelace", Notice.NAME_HAS_CONTROL_CHARACTERS),
        ("www.spam.com", Notice.NAME_HAS_LINK),
        ("join t.me/spam", Notice.NAME_HAS_LINK),
        ("ask @spammer_bot", Notice.NAME_HAS_LINK),
        ("cheap-pills.ru", Notice.NAME_HAS_LINK),
        ("12345", Notice.NAME_NEEDS_LETTERS),
        ("'; DROP TABLE signatures; --", None),  # stored literally, harmless
    ],
)
def test_validate_name(raw: str, problem: Notice | None) -> None:
    assert validate_name(raw)[1] == problem


def test_suggested_name_only_when_valid() -> None:
    assert suggested_name("Ada Lovelace") == "Ada Lovelace"
    assert suggested_name("") is None
    assert suggested_name("www.spam.com") is None


def test_start_mid_journey_offers_to_continue(petition: Petition) -> None:
    journey = walk(petition, Command("start"), Pressed("intro:sign"), Pressed("country:pick:CA"))
    outcome = step(journey, Command("start"), facts(petition))
    assert outcome.notice == Notice.WELCOME_BACK
    assert (outcome.journey.step, outcome.journey.resume_step) == (Step.INTRO, Step.AGE)
    resumed = walk(petition, Pressed("intro:resume"), journey=outcome.journey)
    assert (resumed.step, resumed.country, resumed.resume_step) == (Step.AGE, "CA", None)
    fresh = walk(petition, Pressed("intro:sign"), journey=outcome.journey)
    assert (fresh.step, fresh.country) == (Step.COUNTRY, None)


def test_cancel_forgets_answers_but_not_the_referrer(petition: Petition) -> None:
    journey = walk(petition, Command("start", "r_friendCODE1"), *TO_PREVIEW[1:])
    outcome = step(journey, Command("cancel"), facts(petition))
    assert outcome.notice == Notice.CANCELLED
    assert outcome.journey == Journey(referrer="friendCODE1")


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ("r_abcDEF12_-", "abcDEF12_-"),
        ("r_abc", None),
        ("r_" + "a" * 33, None),
        ("garbage", None),
        ("r_abc$%^&", None),
        ("", None),
        ("r_abcd\nr_efgh", None),
    ],
)
def test_referral_payloads(payload: str, code: str | None) -> None:
    assert referral_code(payload) == code


def test_first_referrer_is_kept(petition: Petition) -> None:
    journey = walk(petition, Command("start", "r_firstFriend"), Command("start", "r_secondOne"))
    assert journey.referrer == "firstFriend"


def test_signed_supporter_always_sees_done(petition: Petition) -> None:
    signature = Signature(7, NOW, "CA", "code1234")
    signed = facts(petition, signature=signature)
    for event in [Command("start"), Pressed("preview:sign"), Typed("hello"), Command("cancel")]:
        outcome = step(Journey(step=Step.PREVIEW), event, signed)
        assert outcome.journey.step == Step.DONE
        assert outcome.sign is False


def test_info_commands_leave_the_journey_alone(petition: Petition) -> None:
    journey = Journey(step=Step.CONSENT, country="CA")
    for name, info in [("help", Info.HELP), ("status", Info.STATUS), ("privacy", Info.PRIVACY)]:
        outcome = step(journey, Command(name), facts(petition))
        assert (outcome.journey, outcome.info) == (journey, info)


def test_unknown_command(petition: Petition) -> None:
    outcome = step(Journey(step=Step.AGE, country="CA"), Command("frobnicate"), facts(petition))
    assert outcome.notice == Notice.UNKNOWN_COMMAND
    assert outcome.journey.step == Step.AGE


def test_closed_petition_refuses_new_signatures() -> None:
    paused = make_petition(paused=True)
    journey = Journey(
        step=Step.PREVIEW, country="CA", name="Ada", consent=True, meets_minimum_age=True
    )
    outcome = step(journey, Pressed("preview:sign"), facts(paused))
    assert (outcome.journey.step, outcome.sign) == (Step.CLOSED, False)
    ended = make_petition(deadline=(NOW - timedelta(days=1)).isoformat())
    assert step(Journey(), Command("start"), facts(ended)).journey.step == Step.CLOSED
    still_open = make_petition(deadline=(NOW + timedelta(days=1)).isoformat())
    assert step(Journey(), Command("start"), facts(still_open)).journey.step == Step.INTRO


def test_reopened_petition_starts_afresh(petition: Petition) -> None:
    outcome = step(Journey(step=Step.CLOSED), Command("start"), facts(petition))
    assert outcome.journey.step == Step.INTRO


def test_search_query_drops_invisible_characters(petition: Petition) -> None:
    outcome = step(
        Journey(step=Step.SEARCH), Typed("\x00\u202eAtl\u200bantis\x07"), facts(petition)
    )
    assert outcome.notice_args == {"query": "Atlantis"}


LANGUAGES = ("en", "fr", "ar")


def test_language_choice_keeps_the_step(petition: Petition) -> None:
    journey = Journey(step=Step.CONSENT, country="CA", meets_minimum_age=True)
    for event in (Command("language"), Pressed("intro:language")):
        at = journey if isinstance(event, Command) else Journey()
        outcome = step(at, event, facts(petition, languages=LANGUAGES))
        assert (outcome.info, outcome.journey) == (Info.LANGUAGE, at)
    chosen = step(journey, Pressed("lang:ar"), facts(petition, languages=LANGUAGES))
    assert (chosen.language, chosen.journey, chosen.notice) == ("ar", journey, None)


def test_unknown_language_is_a_stale_button(petition: Petition) -> None:
    for data in ("lang:xx", "lang:", "lang:ar:extra", "lang:EN"):
        outcome = step(Journey(), Pressed(data), facts(petition, languages=LANGUAGES))
        assert (outcome.language, outcome.notice) == (None, Notice.STALE_BUTTON), data


def test_language_choice_after_signing_shows_done(petition: Petition) -> None:
    signed = facts(petition, languages=LANGUAGES, signature=Signature(3, NOW, "CA", "code1234"))
    outcome = step(Journey(step=Step.SIGNED), Pressed("lang:fr"), signed)
    assert (outcome.language, outcome.journey.step) == ("fr", Step.DONE)


SIGNED_FACTS_SIGNATURE = Signature(4, NOW, "CA", "code1234")


def test_withdraw_asks_for_confirmation(petition: Petition) -> None:
    signed = facts(petition, signature=SIGNED_FACTS_SIGNATURE)
    asked = step(Journey(step=Step.DONE), Command("withdraw"), signed)
    assert asked.journey.step == Step.WITHDRAW and not asked.withdraw
    kept = step(asked.journey, Pressed("withdraw:keep"), signed)
    assert (kept.journey.step, kept.withdraw) == (Step.DONE, False)
    confirmed = step(asked.journey, Pressed("withdraw:confirm"), signed)
    assert (confirmed.journey.step, confirmed.withdraw) == (Step.WITHDRAWN, True)
    forged = step(asked.journey, Pressed("withdraw:confirm:now"), signed)
    assert (forged.withdraw, forged.notice) == (False, Notice.STALE_BUTTON)


def test_withdraw_confirmation_from_an_old_message_does_nothing(petition: Petition) -> None:
    signed = facts(petition, signature=SIGNED_FACTS_SIGNATURE)
    outcome = step(Journey(step=Step.DONE), Pressed("withdraw:confirm"), signed)
    assert outcome.withdraw is False and outcome.journey.step == Step.DONE


def test_withdraw_without_signature(petition: Petition) -> None:
    journey = Journey(step=Step.AGE, country="CA")
    outcome = step(journey, Command("withdraw"), facts(petition))
    assert (outcome.journey, outcome.notice) == (journey, Notice.NOT_SIGNED)
    after = step(Journey(step=Step.WITHDRAWN), Pressed("withdrawn:restart"), facts(petition))
    assert after.journey.step == Step.INTRO


def test_mydata_is_information(petition: Petition) -> None:
    outcome = step(Journey(step=Step.NAME), Command("mydata"), facts(petition))
    assert (outcome.info, outcome.journey.step) == (Info.MY_DATA, Step.NAME)


def test_only_invisible_characters_count_as_no_text(petition: Petition) -> None:
    outcome = step(Journey(step=Step.SEARCH), Typed("\u200b\u202e "), facts(petition))
    assert outcome.notice == Notice.TEXT_EXPECTED


def test_mylink_is_information(petition: Petition) -> None:
    outcome = step(Journey(step=Step.DONE), Command("mylink"), facts(petition))
    assert (outcome.info, outcome.journey.step) == (Info.MY_LINK, Step.DONE)


def test_signing_needs_the_age_answer_given_against_todays_rule() -> None:
    """The flow holds the per-country age rule: an answer given against a rule that has since
    changed (the petition file edited) is asked again, never signed on."""
    us_at_13 = make_petition(age={"default": 16, "by_country": {"US": 13}})
    to_preview_us = [
        Pressed("country:pick:US") if e == Pressed("country:pick:CA") else e for e in TO_PREVIEW
    ]
    journey = walk(us_at_13, *to_preview_us)
    assert (journey.step, journey.answered_minimum_age) == (Step.PREVIEW, 13)
    us_at_16 = make_petition(age={"default": 16, "by_country": {"US": 16}})
    outcome = step(journey, Pressed("preview:sign"), facts(us_at_16))
    assert (outcome.journey.step, outcome.sign) == (Step.AGE, False)
    assert step(journey, Pressed("preview:sign"), facts(us_at_13)).sign is True
    # A journey stored before the rule was noted is asked again too.
    older = replace(journey, answered_minimum_age=None)
    assert step(older, Pressed("preview:sign"), facts(us_at_13)).journey.step == Step.AGE
