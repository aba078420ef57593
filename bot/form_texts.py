"""The Mini App's words: everything the signing form shows, in the supporter's language.

The page holds no text of its own: the server sends it these, translated through the chat's
catalogs (most are the chat's own messages, tags stripped), and the page sets them as text,
never as HTML. Pure functions of plain data, like `bot.screens`.
"""

from __future__ import annotations

from typing import Any

from bot.countries import country_name, flag
from bot.flow import (
    LINK_PATTERN,
    NAME_MAX_LENGTH,
    NAME_MIN_LENGTH,
    Notice,
    minimum_age,
    suggested_name,
)
from bot.form import Field, Filled, FormState
from bot.i18n import Translator, translator
from bot.petition import Petition
from bot.screens import View, closed_text, notice_text, plain_text

# The flow's notices about a typed name, which the page shows as the name field's errors.
NAME_NOTICES = (
    Notice.NAME_TOO_SHORT,
    Notice.NAME_TOO_LONG,
    Notice.NAME_HAS_CONTROL_CHARACTERS,
    Notice.NAME_HAS_LINK,
    Notice.NAME_NEEDS_LETTERS,
    Notice.NAME_REQUIRED,
)


def _view(state: FormState, t: Translator) -> View:
    limits = {"min": str(NAME_MIN_LENGTH), "max": str(NAME_MAX_LENGTH)}
    return View(state.petition, t, state.total, state.now, "", notice_args=limits)


def country_entry(code: str, language: str) -> dict[str, str]:
    return {"code": code, "name": country_name(code, language), "flag": flag(code)}


def html_language(language: str) -> str:
    """A catalog's name as an HTML lang attribute: zh_Hant → zh-Hant."""
    return language.replace("_", "-")


def count_line(t: Translator, petition: Petition, total: int) -> str:
    count = t.ngettext("{count} person has signed", "{count} people have signed", total)
    goal = t.format(t.gettext("next goal: {goal}"), goal=t.number(petition.goal_for(total)))
    return f"{t.format(count, count=t.number(total))} · {goal}"


def form_page(state: FormState, profile_name: str) -> dict[str, Any]:
    """The JSON the page is built from when it opens."""
    t = translator(state.language)
    petition = state.petition
    text = petition.text_for(t.language)
    view = _view(state, t)
    targets = t.format_list(country_name(code, t.language) for code in petition.targets)
    signed = None
    if state.signature is not None:
        signed = t.format(
            t.gettext("You signed this petition on {date} as signer #{number}. Thank you!"),
            date=t.date(state.signature.signed_at),
            number=t.number(state.signature.number),
        )
    closed = closed_text(view) if petition.closed_reason(state.now) else None
    ages = petition.age
    return {
        "petition": petition.id,
        "lang": html_language(t.language),
        "dir": "rtl" if t.right_to_left else "ltr",
        "title": plain_text(text.title),
        "summary": plain_text(text.summary or ""),
        "targets": f"{t.gettext('Addressed to the governments of:')} {targets}",
        "progress": count_line(t, petition, state.total),
        "demands": [plain_text(demand) for demand in text.demands or []],
        "consent": plain_text(text.consent or ""),
        "privacy": plain_text(text.privacy or ""),
        "privacy_url": str(petition.privacy_url) if petition.privacy_url else None,
        "signed": signed,
        "closed": closed,
        "name": suggested_name(profile_name) or "",
        "countries": [country_entry(code, t.language) for code in petition.quick_countries],
        "ages": {
            "default": t.number(ages.default),
            "by_country": {code: t.number(age) for code, age in ages.by_country.items()},
        },
        "rules": {"name_min": NAME_MIN_LENGTH, "name_max": NAME_MAX_LENGTH, "link": LINK_PATTERN},
        "texts": _labels(t),
        "name_errors": {
            notice.value: plain_text(notice_text(notice, view)) for notice in NAME_NOTICES
        },
    }


def _labels(t: Translator) -> dict[str, str]:
    """Labels, hints and messages; {age}, {country}, {query}, {number}, {total} and {url} are
    filled in by the page."""
    return {
        "demands_heading": t.gettext("We ask the governments to:"),
        "country_legend": t.gettext("Where do you live?"),
        "country_hint": t.gettext("Type the name of your country, in your language or in English."),
        "no_match": t.gettext("No country matches “{query}”. Please try another spelling."),
        "country_missing": t.gettext("Please choose your country from the list."),
        "age_legend": t.gettext("How old are you?"),
        "age_hint": t.gettext(
            "In {country}, people under {age} need a parent's or guardian's consent to sign."
        ),
        "age_yes": t.gettext("I am {age} or older"),
        "age_no": t.gettext("I am younger than {age}"),
        "age_missing": t.gettext("Please answer this question."),
        "guardian_hint": t.gettext(
            "Thank you for wanting to help!\n\nBecause you are under {age}, please talk to a "
            "parent or guardian first and sign only if they agree."
        ),
        "guardian_label": t.gettext("My parent or guardian agrees"),
        "guardian_missing": t.gettext(
            "Under {age}, you can sign only with a parent's or guardian's consent."
        ),
        "consent_legend": plain_text(t.gettext("<b>Before you sign</b>")),
        "consent_label": t.gettext("I agree"),
        "consent_missing": t.gettext("Please agree to the text above to sign."),
        "updates_label": t.gettext("Send me updates about this petition"),
        "name_label": t.gettext("Your name"),
        "name_hint": t.gettext(
            "Please type the name you want to sign with ({min}–{max} characters)."
        ),
        "privacy_heading": plain_text(t.gettext("<b>Privacy</b>")),
        "privacy_commands": t.gettext(
            "/mydata shows everything stored about you; /withdraw removes your signature."
        ),
        "privacy_url": t.gettext("Full privacy policy: {url}"),
        "submit": t.gettext("✍️ Sign the petition"),
        "thanks": plain_text(t.gettext("🎉 <b>Thank you! You are signer #{number}.</b>")),
        "count_so_far": t.gettext("Count so far:"),
        "already": t.gettext("You have already signed this petition as signer #{number}."),
        "failed": t.gettext(
            "Sorry, something went wrong on our side. Please try again in a moment: your "
            "answers so far are saved."
        ),
    }


def field_error(state: FormState, filled: Filled) -> dict[str, str]:
    """The 422 answer: the field to fix and why, in the words the page shows for it."""
    t = translator(state.language)
    field = filled.field or Field.PETITION
    age = t.number(minimum_age(state.petition, filled.journey))
    if field is Field.PETITION:
        error = closed_text(_view(state, t))
    elif field is Field.COUNTRY:
        error = t.gettext("Please choose your country from the list.")
    elif field is Field.AGE:
        error = t.gettext("Please answer this question.")
    elif field is Field.GUARDIAN:
        error = t.format(
            t.gettext("Under {age}, you can sign only with a parent's or guardian's consent."),
            age=age,
        )
    elif field is Field.CONSENT:
        error = t.gettext("Please agree to the text above to sign.")
    else:
        notice = filled.notice if filled.notice in NAME_NOTICES else Notice.NAME_REQUIRED
        error = plain_text(notice_text(notice, _view(state, t)))
    return {"field": field.value, "error": error}


def api_error(language: str, kind: str) -> dict[str, str]:
    """Errors that are not about a field: unauthorised, unknown petition, bad request."""
    t = translator(language)
    if kind == "unauthorized":
        return {"error": t.gettext("Please open this form from the bot in Telegram.")}
    if kind == "unknown_petition":
        return {"error": t.gettext("This petition could not be found.")}
    return {
        "error": t.gettext(
            "Sorry, something went wrong on our side. Please try again in a moment: your "
            "answers so far are saved."
        )
    }
