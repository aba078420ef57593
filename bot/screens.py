"""Screens: a journey step rendered as (HTML text, buttons) in the supporter's language.

Pure functions of plain data. Every user-visible string goes through the translator; petition
wording comes from the petition file; anything a supporter typed is escaped.

Direction: every value set into a message is isolated (`Translator.format`); each line of a
right-to-left interface starts with a RIGHT-TO-LEFT MARK (`directed`), except the petition's own
paragraphs, which carry the direction of the language they are written in (`petition_lines`):
an English paragraph shown to an Arabic supporter reads left to right, an Arabic one shown in
an English interface right to left.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from html import escape, unescape
from urllib.parse import quote

from babel import Locale

from bot.countries import country_name, flag
from bot.flow import LANGUAGE_PREFIX, Info, Notice, minimum_age, suggested_name
from bot.i18n import Translator, available_languages, is_right_to_left, translator
from bot.petition import Petition, PetitionFileError
from storage.records import Journey, PersonalData, Signature, Step

MAX_MESSAGE_LENGTH = 4096
MAX_DESCRIPTION_LENGTH = 512
MAX_SHORT_DESCRIPTION_LENGTH = 120
PROGRESS_CELLS = 10
RIGHT_TO_LEFT_MARK = "\u200f"
LEFT_TO_RIGHT_MARK = "\u200e"
DIRECTION_MARKS = (LEFT_TO_RIGHT_MARK, RIGHT_TO_LEFT_MARK)
TOP_COUNTRIES = 5


@dataclass(frozen=True, slots=True)
class Button:
    text: str
    data: str | None = None
    url: str | None = None
    web_app: str | None = None  # opens this https URL as a Mini App (private chats only)


@dataclass(frozen=True, slots=True)
class Screen:
    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()


@dataclass(frozen=True, slots=True)
class View:
    """Facts a screen shows besides the journey itself."""

    petition: Petition
    t: Translator
    total: int
    now: datetime
    bot_username: str
    signature: Signature | None = None
    profile_name: str = ""
    notice: Notice | None = None
    notice_args: dict[str, str] = field(default_factory=dict)
    country_counts: dict[str, int] = field(default_factory=dict)  # only /status needs them
    personal_data: PersonalData | None = None  # only /mydata needs it
    referred: int = 0  # only /mylink needs it: signers who came through the supporter's link
    retention_days: int | None = None  # signatures are anonymised this long after the close
    form_url: str | None = None  # the Mini App signing form, when the public server offers it


def render(journey: Journey, view: View) -> Screen:
    screen = _RENDERERS[journey.step](journey, view)
    if view.notice is not None:
        notice = notice_text(view.notice, view)
        screen = Screen(f"<i>{notice}</i>\n\n{screen.text}", screen.buttons)
    return directed(screen, view.t)


def render_info(info: Info, view: View) -> Screen:
    if info is Info.LANGUAGE:
        return directed(_language_picker(view), view.t)
    if info is Info.MY_LINK:
        return directed(_my_link(view), view.t)
    return directed(Screen(_INFO_RENDERERS[info](view)), view.t)


def directed(screen: Screen, t: Translator) -> Screen:
    """Right-to-left languages: every line starts right-to-left, whatever its first word.

    Telegram picks each paragraph's direction from its first strong character, so a line that
    opens with a number, an emoji or a Latin name would otherwise be laid out left-to-right.
    Lines that already carry a direction (petition wording, see `petition_lines`) keep it.
    """
    if not t.right_to_left:
        return screen
    text = "\n".join(
        line if line.startswith(DIRECTION_MARKS) else RIGHT_TO_LEFT_MARK + line
        for line in screen.text.split("\n")
    )
    return Screen(text, screen.buttons)


def petition_lines(petition: Petition, field: str, html_text: str, t: Translator) -> str:
    """Lines of petition wording (`field` of `text_for(t.language)`), marked with the direction
    of the language they are actually written in where it is not the interface's.

    A paragraph taken from the default language because the petition has no text in the
    supporter's would otherwise follow the interface: an English paragraph in an Arabic chat
    would be laid out right to left, its final "." jumping to the left.
    """
    right_to_left = is_right_to_left(petition.text_language(t.language, field))
    if right_to_left == t.right_to_left:
        return html_text
    mark = RIGHT_TO_LEFT_MARK if right_to_left else LEFT_TO_RIGHT_MARK
    return "\n".join(mark + line for line in html_text.split("\n"))


def title_line(petition: Petition, t: Translator) -> str:
    """The petition's title in bold, as a line of its own."""
    title = petition.text_for(t.language).title
    return petition_lines(petition, "title", f"<b>{title}</b>", t)


def written_in_notice(petition: Petition, t: Translator) -> str | None:
    """Says, in the supporter's language, which language the petition is written in, when it
    has no text of its own in theirs ("This petition is written in English."); else None."""
    if petition.has_text_in(t.language):
        return None
    written = Locale.parse(petition.default_language)
    name = written.get_display_name(t.locale) or petition.default_language
    return t.format(t.gettext("This petition is written in {language}."), language=name)


# --- shared pieces ---------------------------------------------------------------------------


def progress_text(view: View) -> str:
    t = view.t
    goal = view.petition.goal_for(view.total)
    count_line = t.format(
        t.ngettext(
            "<b>{count}</b> person has signed", "<b>{count}</b> people have signed", view.total
        ),
        count=t.number(view.total),
    )
    goal_line = t.format(t.gettext("next goal: {goal}"), goal=t.number(goal))
    ratio = min(view.total / goal, 1.0)
    filled = int(ratio * PROGRESS_CELLS)
    bar = "▰" * filled + "▱" * (PROGRESS_CELLS - filled)
    return f"{count_line} · {goal_line}\n{bar} {t.percent(ratio)}"


def _targets_text(view: View) -> str:
    names = [escape(country_label(code, view.t)) for code in view.petition.targets]
    label = view.t.gettext("Addressed to the governments of:")
    return f"{label} {view.t.format_list(names)}"


def _back(step: Step, view: View) -> Button:
    return Button(view.t.gettext("« Back"), f"{step.value}:back")


def share_link(view: View, signature: Signature) -> str:
    return f"https://t.me/{view.bot_username}?start=r_{signature.referral_code}"


def _share_button(view: View, link: str) -> Button:
    title = view.petition.text_for(view.t.language).title
    url = f"https://t.me/share/url?url={quote(link, safe='')}&text={quote(title, safe='')}"
    return Button(view.t.gettext("📣 Share with friends"), url=url)


def notice_text(notice: Notice, view: View) -> str:
    t = view.t
    texts = {
        Notice.STALE_BUTTON: t.gettext(
            "That button belongs to an earlier step. Here is where you are now."
        ),
        Notice.USE_BUTTONS: t.gettext("Please use the buttons below this message."),
        Notice.UNKNOWN_COMMAND: t.gettext(
            "I don't know that command. Send /help to see what I can do."
        ),
        Notice.CANCELLED: t.gettext("Cancelled. Nothing has been recorded."),
        Notice.NO_COUNTRY_MATCH: t.gettext(
            "No country matches “{query}”. Please try another spelling."
        ),
        Notice.NAME_TOO_SHORT: t.gettext(
            "That name is too short: please use at least {min} characters."
        ),
        Notice.NAME_TOO_LONG: t.gettext(
            "That name is too long: please use at most {max} characters."
        ),
        Notice.NAME_HAS_CONTROL_CHARACTERS: t.gettext(
            "That name contains invisible or control characters. Please type it again."
        ),
        Notice.NAME_HAS_LINK: t.gettext(
            "A name can't contain links or @usernames. Please type just your name."
        ),
        Notice.NAME_NEEDS_LETTERS: t.gettext(
            "A name needs at least one letter. Please type your name."
        ),
        Notice.NAME_REQUIRED: t.gettext(
            "Please type the name you want to sign with ({min}–{max} characters)."
        ),
        Notice.TEXT_EXPECTED: t.gettext("Please answer with a text message."),
        Notice.NOT_SIGNED: t.gettext(
            "You have not signed this petition, so there is nothing to withdraw."
        ),
        Notice.WELCOME_BACK: t.gettext("Welcome back! You can continue where you left off."),
    }
    arguments = {key: escape(value) for key, value in view.notice_args.items()}
    return t.format(texts[notice], **arguments)


# --- one renderer per step -------------------------------------------------------------------


def _intro(journey: Journey, view: View) -> Screen:
    t, petition = view.t, view.petition
    text = petition.text_for(t.language)
    # The welcome is the first screen with petition text: the one place that says, once, when
    # it is not in the supporter's language.
    written_in = written_in_notice(petition, t)
    parts = [] if written_in is None else [f"<i>{written_in}</i>"]
    parts += [
        title_line(petition, t),
        petition_lines(petition, "summary", text.summary or "", t),
        _targets_text(view),
        progress_text(view),
    ]
    body = "\n\n".join(parts)
    rows: list[tuple[Button, ...]] = []
    if journey.resume_step is not None:
        rows.append((Button(t.gettext("↩️ Continue where I left off"), "intro:resume"),))
    rows.append((Button(t.gettext("📜 Read the demands"), "intro:demands"),))
    rows.append((Button(t.gettext("✍️ Sign the petition"), "intro:sign"),))
    if view.form_url is not None:
        rows.append((Button("📝 " + t.gettext("Sign in a form"), web_app=view.form_url),))
    rows.append((Button(f"🌐 {language_name(t.language)}", "intro:language"),))
    return Screen(body, tuple(rows))


def language_name(language: str) -> str:
    """The language's name in itself, as CLDR spells it ("français" → "Français")."""
    name = translator(language).locale.get_display_name(language) or language
    return name[:1].upper() + name[1:]


def _language_picker(view: View) -> Screen:
    t = view.t
    buttons = [
        Button(
            ("✓ " if language == t.language else "") + language_name(language),
            f"{LANGUAGE_PREFIX}{language}",
        )
        for language in available_languages()
    ]
    rows = [tuple(buttons[index : index + 2]) for index in range(0, len(buttons), 2)]
    rows.append((Button(t.gettext("« Back"), f"{LANGUAGE_PREFIX}{t.language}"),))
    return Screen(t.gettext("<b>Choose your language</b>"), tuple(rows))


def _demands(journey: Journey, view: View) -> Screen:
    t, petition = view.t, view.petition
    text = petition.text_for(t.language)
    parts = [title_line(petition, t)]
    if text.background:
        parts.append(petition_lines(petition, "background", text.background, t))
    demands = "\n\n".join(
        petition_lines(petition, "demands", f"<b>{index}.</b> {demand}", t)
        for index, demand in enumerate(text.demands or [], start=1)
    )
    heading = t.gettext("We ask the governments to:")
    parts.append(f"<b>{heading}</b>\n\n{demands}")
    if petition.sources:
        links = "\n".join(
            t.format(
                "• {source}",
                source=f'<a href="{escape(str(source.url))}">{escape(source.title)}</a>',
            )
            for source in petition.sources
        )
        heading = t.gettext("Sources")
        parts.append(f"<b>{heading}</b>\n{links}")
    buttons = (
        (Button(t.gettext("✍️ Sign the petition"), "demands:sign"),),
        (_back(Step.DEMANDS, view),),
    )
    return Screen("\n\n".join(parts), buttons)


def _country_button(step: Step, code: str, view: View) -> Button:
    return Button(country_label(code, view.t), f"{step.value}:pick:{code}")


def _country(journey: Journey, view: View) -> Screen:
    t = view.t
    codes = view.petition.quick_countries
    buttons = [_country_button(Step.COUNTRY, code, view) for code in codes]
    rows = [tuple(buttons[index : index + 2]) for index in range(0, len(buttons), 2)]
    rows.append((Button(t.gettext("🌍 Another country"), "country:other"),))
    rows.append((_back(Step.COUNTRY, view),))
    body = t.gettext("<b>Where do you live?</b>\n\nChoose your country below, or type its name.")
    return Screen(body, tuple(rows))


def _search(journey: Journey, view: View) -> Screen:
    t = view.t
    rows = [(_country_button(Step.SEARCH, code, view),) for code in journey.country_matches]
    rows.append((_back(Step.SEARCH, view),))
    if journey.country_matches:
        body = t.gettext("Is your country one of these? Press it, or type another name.")
    else:
        body = t.gettext("Type the name of your country, in your language or in English.")
    return Screen(body, tuple(rows))


def _age(journey: Journey, view: View) -> Screen:
    t = view.t
    age = t.number(minimum_age(view.petition, journey))
    country = escape(country_name(journey.country or "", t.language))
    body = t.format(
        t.gettext(
            "<b>How old are you?</b>\n\nIn {country}, people under {age} need a parent's or "
            "guardian's consent to sign."
        ),
        country=country,
        age=age,
    )
    buttons = (
        (Button(t.format(t.gettext("I am {age} or older"), age=age), "age:yes"),),
        (Button(t.format(t.gettext("I am younger than {age}"), age=age), "age:no"),),
        (_back(Step.AGE, view),),
    )
    return Screen(body, buttons)


def _guardian(journey: Journey, view: View) -> Screen:
    t = view.t
    body = t.format(
        t.gettext(
            "Thank you for wanting to help!\n\nBecause you are under {age}, please talk to a "
            "parent or guardian first and sign only if they agree."
        ),
        age=t.number(minimum_age(view.petition, journey)),
    )
    buttons = (
        (Button(t.gettext("My parent or guardian agrees"), "guardian:yes"),),
        (Button(t.gettext("Not now"), "guardian:leave"),),
        (_back(Step.GUARDIAN, view),),
    )
    return Screen(body, buttons)


def _left(journey: Journey, view: View) -> Screen:
    t = view.t
    body = t.gettext(
        "No problem: nothing has been recorded. You are welcome back any time, together with "
        "a parent or guardian."
    )
    return Screen(body, ((Button(t.gettext("Start again"), "left:restart"),),))


def _consent(journey: Journey, view: View) -> Screen:
    t = view.t
    text = view.petition.text_for(t.language)
    body = "\n\n".join(
        [
            t.gettext("<b>Before you sign</b>"),
            petition_lines(view.petition, "consent", text.consent or "", t),
            t.gettext(
                "Updates are optional: tick the box only if you want them. "
                "Send /privacy to read how your data is handled."
            ),
        ]
    )
    tick = "☑️" if journey.wants_updates else "⬜"
    buttons = (
        (Button(f"{tick} " + t.gettext("Send me updates about this petition"), "consent:updates"),),
        (Button(t.gettext("✅ I agree, continue"), "consent:agree"),),
        (_back(Step.CONSENT, view),),
    )
    return Screen(body, buttons)


def _name(journey: Journey, view: View) -> Screen:
    t = view.t
    suggestion = journey.name or suggested_name(view.profile_name)
    rows: list[tuple[Button, ...]] = []
    if suggestion:
        body = t.format(
            t.gettext(
                "<b>Your name</b>\n\nYour signature will read: <b>{name}</b>\n\n"
                "Press the button to use it, or type the name you want to sign with."
            ),
            name=escape(suggestion),
        )
        rows.append((Button(t.gettext("Use this name"), "name:use"),))
    else:
        body = t.gettext("<b>Your name</b>\n\nPlease type the name you want to sign with.")
    rows.append((_back(Step.NAME, view),))
    return Screen(body, tuple(rows))


def country_label(code: str | None, t: Translator) -> str:
    """Flag and name as plain text (a button label); escape it for message HTML."""
    return f"{flag(code or '')} {country_name(code or '', t.language)}"


def _preview(journey: Journey, view: View) -> Screen:
    t = view.t
    text = view.petition.text_for(t.language)
    yes, no = t.gettext("yes"), t.gettext("no")
    lines = [
        t.gettext("<b>Please check your signature</b>"),
        "",
        t.format(t.gettext("Petition: {title}"), title=text.title),
        t.format(t.gettext("Name: {name}"), name=escape(journey.name or "")),
        t.format(
            t.gettext("Country: {country}"), country=escape(country_label(journey.country, t))
        ),
        t.format(
            t.gettext("Updates by Telegram: {answer}"), answer=yes if journey.wants_updates else no
        ),
    ]
    if journey.guardian_consent:
        lines.append(t.gettext("Signed with a parent's or guardian's consent"))
    lines += ["", t.gettext("This is exactly what will be recorded.")]
    buttons = (
        (Button(t.gettext("✍️ Sign now"), "preview:sign"),),
        (_back(Step.PREVIEW, view),),
    )
    return Screen("\n".join(lines), buttons)


def _signed(journey: Journey, view: View) -> Screen:
    t = view.t
    signature = view.signature
    if signature is None:  # the edge always passes the signature it just recorded
        return _intro(journey, view)
    link = share_link(view, signature)
    body = "\n\n".join(
        [
            t.format(
                t.gettext("🎉 <b>Thank you! You are signer #{number}.</b>"),
                number=t.number(signature.number),
            ),
            progress_text(view),
            t.gettext("Every signature counts more when friends join. Share this link:"),
            link,
        ]
    )
    return Screen(body, ((_share_button(view, link),),))


def _done(journey: Journey, view: View) -> Screen:
    t = view.t
    signature = view.signature
    if signature is None:
        return _intro(journey, view)
    link = share_link(view, signature)
    parts = [
        t.format(
            t.gettext("You signed this petition on {date} as signer #{number}. Thank you!"),
            date=t.date(signature.signed_at),
            number=t.number(signature.number),
        ),
        progress_text(view),
    ]
    if view.petition.closed_reason(view.now):
        parts.append(t.gettext("The petition is no longer collecting signatures."))
    else:
        parts += [t.gettext("Help it grow: share this link with friends."), link]
    return Screen("\n\n".join(parts), ((_share_button(view, link),),))


def closed_text(view: View) -> str:
    """Why nobody can sign now: paused, or closed (on its deadline, if it has one)."""
    t, petition = view.t, view.petition
    if petition.closed_reason(view.now) == "paused":
        return t.gettext("This petition is paused and is not collecting signatures right now.")
    if petition.deadline is not None:
        return t.format(
            t.gettext("This petition closed on {date} and no longer accepts signatures."),
            date=t.date(petition.deadline),
        )
    return t.gettext("This petition no longer accepts signatures.")


def _closed(journey: Journey, view: View) -> Screen:
    t = view.t
    petition = view.petition
    reason = closed_text(view)
    final = t.gettext("Count so far:") + "\n" + progress_text(view)
    return Screen("\n\n".join([title_line(petition, t), reason, final]))


def _withdraw(journey: Journey, view: View) -> Screen:
    t = view.t
    number = t.number(view.signature.number) if view.signature else ""
    question = t.format(
        t.gettext(
            "<b>Withdraw your signature?</b>\n\nYour signature #{number} will be deleted and the "
            "count will go down by one. You can sign again later if you change your mind."
        ),
        number=number,
    )
    body = f"{title_line(view.petition, t)}\n\n{question}"
    buttons = (
        (Button(t.gettext("Yes, withdraw my signature"), "withdraw:confirm"),),
        (Button(t.gettext("No, keep my signature"), "withdraw:keep"),),
    )
    return Screen(body, buttons)


def _withdrawn(journey: Journey, view: View) -> Screen:
    t = view.t
    body = "\n\n".join(
        [
            t.gettext("Your signature has been withdrawn and deleted."),
            progress_text(view),
        ]
    )
    return Screen(body, ((Button(t.gettext("Back to the petition"), "withdrawn:restart"),),))


_RENDERERS = {
    Step.INTRO: _intro,
    Step.DEMANDS: _demands,
    Step.COUNTRY: _country,
    Step.SEARCH: _search,
    Step.AGE: _age,
    Step.GUARDIAN: _guardian,
    Step.LEFT: _left,
    Step.CONSENT: _consent,
    Step.NAME: _name,
    Step.PREVIEW: _preview,
    Step.SIGNED: _signed,
    Step.DONE: _done,
    Step.CLOSED: _closed,
    Step.WITHDRAW: _withdraw,
    Step.WITHDRAWN: _withdrawn,
}


# --- information commands --------------------------------------------------------------------


def _help(view: View) -> str:
    t = view.t
    title = view.petition.text_for(t.language).title
    return "\n".join(
        [
            t.format(
                t.gettext("I help you read and sign the petition <b>{title}</b>."), title=title
            ),
            "",
            t.gettext("/start – begin, or continue where you left off"),
            t.gettext("/status – how many have signed, and the goal"),
            t.gettext("/privacy – what is stored about you, and why"),
            t.gettext("/cancel – start over (nothing is recorded before you press Sign)"),
            t.gettext("/language – choose another language"),
            t.gettext("/mylink – your link to share, and how many signed through it"),
            t.gettext("/mydata – everything stored about you"),
            t.gettext("/withdraw – remove your signature"),
            t.gettext("/help – this message"),
        ]
    )


def _status(view: View) -> str:
    t = view.t
    petition = view.petition
    parts = [title_line(petition, t), progress_text(view)]
    if view.country_counts:
        parts.append(_top_countries(view))
    reason = petition.closed_reason(view.now)
    if reason == "paused":
        parts.append(t.gettext("Signing is paused for now."))
    elif reason == "ended":
        parts.append(t.gettext("Signing has ended."))
    elif petition.deadline is not None:
        parts.append(
            t.format(t.gettext("Open for signatures until {date}."), date=t.date(petition.deadline))
        )
    if view.signature is not None:
        parts.append(
            t.format(
                t.gettext("You signed on {date} as signer #{number}."),
                date=t.date(view.signature.signed_at),
                number=t.number(view.signature.number),
            )
        )
    elif reason is None:  # closed: there is nothing to begin
        parts.append(t.gettext("You have not signed yet: send /start to begin."))
    return "\n\n".join(parts)


def _top_countries(view: View) -> str:
    t = view.t
    counts = view.country_counts
    heading = t.format(
        t.ngettext(
            "Signatures from {count} country:", "Signatures from {count} countries:", len(counts)
        ),
        count=t.number(len(counts)),
    )
    top = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:TOP_COUNTRIES]
    lines = [f"{escape(country_label(code, t))}: {t.number(count)}" for code, count in top]
    return "\n".join([heading, *lines])


def _my_link(view: View) -> Screen:
    t = view.t
    if view.signature is None:
        return Screen(t.gettext("Sign the petition first: then you get your own link to share."))
    link = share_link(view, view.signature)
    body = "\n\n".join(
        [
            t.gettext("<b>Your link to share</b>"),
            link,
            t.format(
                t.ngettext(
                    "{count} person has signed through your link so far.",
                    "{count} people have signed through your link so far.",
                    view.referred,
                ),
                count=t.number(view.referred),
            ),
        ]
    )
    return Screen(body, ((_share_button(view, link),),))


def _privacy(view: View) -> str:
    t = view.t
    petition = view.petition
    privacy = petition_lines(petition, "privacy", petition.text_for(t.language).privacy or "", t)
    parts = [t.gettext("<b>Privacy</b>"), privacy]
    if view.retention_days is not None:
        parts.append(
            t.format(
                t.ngettext(
                    "{days} day after the petition closes, signatures are anonymised: names and "
                    "Telegram ids are removed; country and date stay in the counts.",
                    "{days} days after the petition closes, signatures are anonymised: names and "
                    "Telegram ids are removed; country and date stay in the counts.",
                    view.retention_days,
                ),
                days=t.number(view.retention_days),
            )
        )
    parts.append(
        t.gettext("/mydata shows everything stored about you; /withdraw removes your signature.")
    )
    if petition.privacy_url is not None:
        url = escape(str(petition.privacy_url))
        # A link of its own, so the isolates around it never become part of the address.
        parts.append(
            t.format(t.gettext("Full privacy policy: {url}"), url=f'<a href="{url}">{url}</a>')
        )
    return "\n\n".join(parts)


def _my_data(view: View) -> str:
    t = view.t
    data = view.personal_data
    heading = t.gettext("<b>Your data</b>")
    if data is None or (data.signature is None and data.journey is None):
        return "\n\n".join([heading, t.gettext("Nothing is stored about you for this petition.")])
    footer = t.gettext(
        "Your Telegram id is stored with these answers. Send /withdraw to "
        "remove your signature, or /cancel to clear unfinished answers."
    )
    return "\n".join([heading, "", *my_data_lines(view), "", footer])


def my_data_lines(view: View) -> list[str]:
    """What is stored about the supporter for the view's petition, a line per fact."""
    t = view.t
    data = view.personal_data
    if data is None:
        return []
    yes, no = t.gettext("yes"), t.gettext("no")
    lines: list[str] = []
    signed = data.signature
    if signed is not None:
        lines += [
            t.format(
                t.gettext("Signature #{number}, {date}"),
                number=t.number(data.number or 0),
                date=t.date(signed.signed_at),
            ),
            t.format(t.gettext("Name: {name}"), name=escape(signed.name)),
            t.format(
                t.gettext("Country: {country}"), country=escape(country_label(signed.country, t))
            ),
            t.format(t.gettext("Language: {language}"), language=language_name(signed.language)),
            t.format(
                t.gettext("Updates by Telegram: {answer}"),
                answer=yes if signed.wants_updates else no,
            ),
        ]
        # Only younger signers are asked for it: for everyone else it is not a question.
        if signed.guardian_consent:
            lines.append(t.gettext("Signed with a parent's or guardian's consent"))
        lines += [
            t.format(
                t.gettext("Version of the petition text: {version}"),
                version=escape(signed.text_version),
            ),
            t.format(
                t.gettext("Invited through a share link: {answer}"),
                answer=yes if signed.referred_by else no,
            ),
            t.format(t.gettext("Your share code: {code}"), code=escape(data.referral_code or "")),
        ]
    if data.journey is not None and data.journey_updated_at is not None:
        lines += [
            "",
            t.format(
                t.gettext(
                    "Your progress in this chat (the step you are on and the answers so far), "
                    "last changed on {date}."
                ),
                date=t.date(data.journey_updated_at),
            ),
        ]
    if data.language:
        lines.append(
            t.format(
                t.gettext("Chosen language: {language}"), language=language_name(data.language)
            )
        )
    return lines


_INFO_RENDERERS = {
    Info.HELP: _help,
    Info.STATUS: _status,
    Info.PRIVACY: _privacy,
    Info.MY_DATA: _my_data,
}


# --- limits ----------------------------------------------------------------------------------

_TAG = re.compile(r"<[^>]+>")
# Telegram refuses a whole message over one "&" that does not start an entity.
_BARE_AMPERSAND = re.compile(r"&(?!(?:amp|lt|gt|quot|#\d+|#x[0-9a-fA-F]+);)")


def visible_length(html_text: str) -> int:
    """Length as Telegram counts it: tags removed, entities decoded, in UTF-16 code units."""
    return len(plain_text(html_text).encode("utf-16-le")) // 2


def check_petition_fits(petition: Petition, now: datetime | None = None) -> None:
    """Fail at start-up, naming the language, if a petition screen exceeds Telegram's limit."""
    sample_now = now or datetime(2000, 1, 1, tzinfo=UTC)
    sample = Journey(
        country=petition.targets[0],
        name="N" * 64,
        meets_minimum_age=True,
        consent=True,
        resume_step=Step.COUNTRY,
    )
    for language in petition.languages:
        view = View(
            petition=petition,
            t=translator(language),
            total=10**7,
            now=sample_now,
            bot_username="x" * 32,
        )
        screens = [
            render(replace(sample, step=step), view)
            for step in (Step.INTRO, Step.DEMANDS, Step.CONSENT, Step.PREVIEW)
        ]
        screens += [render_info(info, view) for info in Info]
        for screen in screens:
            bare = _BARE_AMPERSAND.search(screen.text)
            if bare is not None:
                raise PetitionFileError(
                    f"PETITION_FILE: text.{language} has a bare '&' (near "
                    f"{screen.text[max(bare.start() - 20, 0) : bare.start() + 20]!r}): write &amp;"
                )
            length = visible_length(screen.text)
            if length > MAX_MESSAGE_LENGTH:
                raise PetitionFileError(
                    f"PETITION_FILE: text.{language} is too long for one Telegram message "
                    f"({length} > {MAX_MESSAGE_LENGTH} characters): shorten it"
                )


def plain_text(html_text: str) -> str:
    """What a person reads: tags removed, entities decoded."""
    return unescape(_TAG.sub("", html_text))


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def bot_descriptions(petition: Petition, language: str) -> tuple[str, str]:
    """(description, short description): what people see before pressing Start, and in shares.

    Plain text, within Telegram's limits (512 and 120 characters).
    """
    t = translator(language)
    text = petition.text_for(language)
    title = plain_text(text.title)
    invitation = t.gettext("Press Start to read the demands and sign: it takes about a minute.")
    description = f"{title}\n\n{plain_text(text.summary or '')}\n\n{invitation}"
    if len(description) > MAX_DESCRIPTION_LENGTH:
        description = shorten(f"{title}\n\n{invitation}", MAX_DESCRIPTION_LENGTH)
    template = t.gettext("Sign the petition: {title}")
    short = t.format(template, title=title)
    if len(short) > MAX_SHORT_DESCRIPTION_LENGTH:
        # Shorten the title, not the sentence: the isolate around it stays closed.
        room = len(title) - (len(short) - MAX_SHORT_DESCRIPTION_LENGTH)
        short = t.format(template, title=shorten(title, room))
    return description, short
