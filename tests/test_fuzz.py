"""Fuzzing (Hypothesis): random events through the pure journey, and odd updates through the bot.

Two layers:

* the pure state machine (`bot.flow.step`) walked by hundreds of random sequences of commands,
  button presses (real, stale and forged) and typed text, every reached state rendered in
  several languages and checked against Telegram's limits;
* the real bot against the fake Bot API, one running instance shared by every example, each
  example a fresh supporter who throws odd texts, deep links, forged buttons and unexpected
  update kinds at it, and then signs normally.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import event as tally
from hypothesis import strategies as st

from bot.countries import country_codes, is_country_code
from bot.features.signing import decode_text
from bot.flow import (
    NAME_MAX_LENGTH,
    REFERRAL_PAYLOAD,
    RESUMABLE,
    SEARCH_QUERY_MAX_LENGTH,
    Command,
    Event,
    Facts,
    Info,
    Pressed,
    Typed,
    ready_to_sign,
    step,
    validate_name,
)
from bot.i18n import available_languages, translator
from bot.petition import Petition, load_petition
from bot.screens import (
    DIRECTION_MARKS,
    MAX_MESSAGE_LENGTH,
    Screen,
    View,
    render,
    render_info,
    visible_length,
)
from bot.settings import PROJECT_ROOT
from storage.records import Journey, Signature, Step
from tests.bidi import unisolated
from tests.conftest import NOW, make_petition
from tests.fakes import FakeBotAPI, FakeUser
from tests.fakes.bot_api import EntityParseError, html_to_text, utf16_length
from tests.harness import STICKER, BotInstance
from tests.test_journey_e2e import signature_rows

MAX_CALLBACK_DATA_BYTES = 64
MAX_BUTTON_TEXT = 64
MAX_INCOMING_TEXT = 4096  # Telegram refuses longer messages from clients
RENDER_LANGUAGES = ("en", "ar", "ja", "ru")
BOT_USERNAME = "petition_test_bot"  # FakeBotAPI's default

# --- strategies: text -------------------------------------------------------------------------

# Invisible and direction-changing characters, and the controls Telegram lets through.
ODD_CHARACTERS = (
    "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
    "\ufeff\u00ad\u061c\u180e\u2060\u0000\u0007\u001b\u007f\u0085\u2028\u2029\n\t\r \u3000"
    "\u00a0\u0301\u0336"
)
EMOJI = ("🙂", "👨‍👩‍👧‍👦", "🇨🇦", "🏳️‍🌈", "❤️", "🧑🏽‍💻", "🫠", "\U0001f1e6")
WORDS = (
    "Canada",
    "germany",
    "DEU",
    "uk",
    "Côte d’Ivoire",
    "Japon",
    "Россия",
    "ألمانيا",
    "日本",
    "<b>",
    "</i>",
    "&amp;",
    "&",
    "<a href='x'>",
    "{name}",
    "{0}",
    "%s",
    "'; DROP TABLE signatures; --",
    "https://t.me/x",
    "@someone_else",
    "www.example.com",
    "/start",
    ":",
    "lang:fr",
)
VALID_NAMES = (
    "Ada Lovelace",
    "Zoë Ødegård",
    "مريم الأحمد",
    "李小龙",
    "Ольга Петрова",
    "Nguyễn Thị Minh Khai",
    "राहुल\u200dशर्मा",
    "O'Brien-Smith",
    "<b>Bold</b> & Co",
    "A" * NAME_MAX_LENGTH,
)

odd_text = st.text(alphabet=st.sampled_from(ODD_CHARACTERS), min_size=1, max_size=12)
fragment = st.one_of(
    st.text(max_size=12),  # any code point but surrogates
    odd_text,
    st.sampled_from(EMOJI),
    st.sampled_from(WORDS),
    st.sampled_from(VALID_NAMES),
)
mixed_text = st.lists(fragment, min_size=1, max_size=8).map("".join)
long_text = st.builds(
    lambda piece, times: piece * times,
    st.one_of(st.text(min_size=1, max_size=8), st.sampled_from(EMOJI), odd_text),
    st.integers(min_value=100, max_value=2500),
).map(lambda text: text[:10_000])
typed_text = st.one_of(
    st.sampled_from(VALID_NAMES),
    st.sampled_from(WORDS),
    mixed_text,
    long_text,
    st.text(max_size=200),
)


def fits_telegram(text: str) -> str:
    """Cut a text to what Telegram accepts from a client: 4096 UTF-16 code units."""
    kept, units = [], 0
    for character in text:
        units += 2 if ord(character) > 0xFFFF else 1
        if units > MAX_INCOMING_TEXT:
            break
        kept.append(character)
    return "".join(kept)


# --- strategies: events -----------------------------------------------------------------------

KNOWN_COMMANDS = ("start", "cancel", "help", "status", "privacy", "language", "mydata", "withdraw")
referral_payload = st.from_regex(r"r_[A-Za-z0-9_-]{4,32}", fullmatch=True)
payloads = st.one_of(
    st.just(""),
    referral_payload,
    referral_payload.map(lambda payload: f"  {payload}\u200b"),
    st.sampled_from(["r_", "r_abc", "r_" + "a" * 33, "r_$$$$", "group", "r_abcd:efgh", "R_abcd"]),
    mixed_text,
    long_text,
)
command_names = st.one_of(
    st.sampled_from(KNOWN_COMMANDS),
    st.sampled_from(KNOWN_COMMANDS).map(str.upper),
    st.text(max_size=40),
)
commands = st.builds(Command, command_names, payloads)

# Callback data the journey's buttons carry, for every step: real buttons, pressed at any time.
STEP_ACTIONS: dict[Step, tuple[str, ...]] = {
    Step.INTRO: ("sign", "demands", "resume", "language"),
    Step.DEMANDS: ("sign",),
    Step.COUNTRY: ("other",),
    Step.AGE: ("yes", "no"),
    Step.GUARDIAN: ("yes", "leave"),
    Step.CONSENT: ("updates", "agree"),
    Step.NAME: ("use",),
    Step.PREVIEW: ("sign",),
    Step.LEFT: ("restart",),
    Step.WITHDRAW: ("confirm", "keep"),
    Step.WITHDRAWN: ("restart",),
}
VALID_DATA = tuple(
    [f"{here.value}:{action}" for here, actions in STEP_ACTIONS.items() for action in actions]
    + [f"{here.value}:back" for here in Step]
    + [f"lang:{language}" for language in available_languages()]
)
COUNTRY_CODES = tuple(sorted(country_codes()))
pick_data = st.builds(
    "{}:pick:{}".format,
    st.sampled_from([Step.COUNTRY.value, Step.SEARCH.value]),
    st.one_of(
        st.sampled_from(COUNTRY_CODES),
        st.sampled_from(["XX", "ZZ", "EU", "UN", "ca", "", "CAN", "C", "🇨🇦", "CA:extra"]),
    ),
)


def fits_callback(data: str) -> bool:
    return len(data.encode()) <= MAX_CALLBACK_DATA_BYTES


forged_data = st.one_of(
    st.text(max_size=64).filter(fits_callback),  # anything at all
    st.builds(  # a known action under a wrong or random prefix
        "{}:{}".format,
        st.one_of(
            st.sampled_from([s.value for s in Step] + ["lang", "x", ""]), st.text(max_size=8)
        ),
        st.one_of(
            st.sampled_from([a for actions in STEP_ACTIONS.values() for a in actions]),
            st.text(max_size=8),
        ),
    ).filter(fits_callback),
    st.builds(  # a real button with extra ':' parts
        "{}:{}".format, st.sampled_from(VALID_DATA), st.text(max_size=12)
    ).filter(fits_callback),
    st.sampled_from(["lang:", "lang:xx", "lang:EN", "lang:en:x", "intro", ":", "::", "a" * 64]),
)
press_data = st.one_of(st.sampled_from(VALID_DATA), pick_data, forged_data)
presses = st.builds(Pressed, press_data)
typed = st.builds(Typed, typed_text)
any_event: st.SearchStrategy[Event] = st.one_of(presses, commands, typed)


# --- the pure flow ----------------------------------------------------------------------------

SHIPPED = load_petition(sorted((PROJECT_ROOT / "petitions").glob("*.toml"))[0])
PETITIONS = {
    "open": make_petition(),
    "paused": make_petition(paused=True),
    "ended": make_petition(deadline=(NOW - timedelta(days=1)).isoformat()),
    "shipped": SHIPPED,
}
LANGUAGE_SETS = (("en",), ("en", "fr", "ar"), available_languages())
PROFILE_NAMES = ("", "Ada Lovelace", "x", "\u202eevil\u202c name", "🙂🙂", "N" * 100, *VALID_NAMES)
SIGNED_BEFORE = Signature(
    number=7, signed_at=NOW - timedelta(days=3), country="GB", referral_code="abcDEF123_-x"
)


@dataclass
class World:
    """What the service around the flow keeps: the signature, the count, the language."""

    facts: Facts
    total: int
    render_languages: tuple[str, ...]


worlds = st.builds(
    lambda petition, signed, profile_name, languages, language: World(
        facts=Facts(
            petition=PETITIONS[petition],
            now=NOW,
            signature=SIGNED_BEFORE if signed else None,
            profile_name=profile_name,
            language=language,
            languages=languages,
        ),
        total=10 if signed else 9,
        render_languages=tuple(dict.fromkeys((language, *RENDER_LANGUAGES))),
    ),
    st.sampled_from(sorted(PETITIONS)),
    st.booleans(),
    st.sampled_from(PROFILE_NAMES),
    st.sampled_from(LANGUAGE_SETS),
    st.sampled_from(RENDER_LANGUAGES),
)


def callback_data(screen: Screen) -> list[str]:
    return [button.data for row in screen.buttons for button in row if button.data is not None]


def check_screen(screen: Screen, language: str) -> None:
    """What Telegram would refuse, or show wrongly."""
    assert visible_length(screen.text) <= MAX_MESSAGE_LENGTH, visible_length(screen.text)
    shown = html_to_text(screen.text)  # raises on HTML Telegram cannot parse
    assert shown.strip(), "empty message"
    assert utf16_length(shown) <= MAX_MESSAGE_LENGTH
    for row in screen.buttons:
        assert 1 <= len(row) <= 8
        for button in row:
            assert 0 < len(button.text) <= MAX_BUTTON_TEXT, button.text
            assert (button.data is None) != (button.url is None), button
            if button.data is not None:
                assert 1 <= len(button.data.encode()) <= MAX_CALLBACK_DATA_BYTES, button.data
    if translator(language).right_to_left:
        # Right to left, but for paragraphs of petition wording in a left-to-right language.
        assert all(line.startswith(DIRECTION_MARKS) for line in screen.text.split("\n"))


def check_outcome(before: Journey, event: Event, world: World, outcome: Any) -> None:
    facts = world.facts
    after: Journey = outcome.journey
    assert isinstance(after.step, Step)
    assert after.resume_step is None or after.resume_step in RESUMABLE
    # Only a press of "Sign now" on a complete preview, with no signature yet, signs.
    if outcome.sign:
        assert facts.signature is None
        assert facts.petition.closed_reason(facts.now) is None
        assert before.step == Step.PREVIEW and ready_to_sign(before, facts)
        assert isinstance(event, Pressed) and event.data.startswith("preview:sign")
        assert after.step == Step.SIGNED
    if outcome.withdraw:
        assert facts.signature is not None and before.step == Step.WITHDRAW
        assert event == Pressed("withdraw:confirm")
    assert not (outcome.sign and outcome.withdraw)
    # Stored answers are always valid ones.
    assert after.country is None or is_country_code(after.country), after.country
    assert all(is_country_code(code) for code in after.country_matches)
    if after.name is not None:
        assert validate_name(after.name) == (after.name, None), after.name
    if after.referrer is not None:
        assert REFERRAL_PAYLOAD.match(f"r_{after.referrer}"), after.referrer
    if after.step == Step.PREVIEW:
        assert after.name is not None and after.country is not None
    if after.step in (Step.AGE, Step.GUARDIAN):
        assert after.country is not None
    # Languages come only from the offered list; information leaves the journey alone.
    if outcome.language is not None:
        assert outcome.language in facts.languages
    if outcome.info is not None:
        # A journey stored past signing whose signature is gone (withdrawn, or the petition
        # reopened) restarts at the welcome first, whatever the event: that is not the info.
        gone = facts.signature is None and before.step in (
            Step.SIGNED,
            Step.DONE,
            Step.CLOSED,
            Step.WITHDRAW,
        )
        assert after == before or (gone and after == before.restarted())
        assert not outcome.sign and not outcome.withdraw
    if "query" in outcome.notice_args:
        assert len(outcome.notice_args["query"]) <= SEARCH_QUERY_MAX_LENGTH
    # After signing, the journey only shows the signature (or its withdrawal).
    if facts.signature is not None and outcome.info is None and outcome.notice is None:
        assert after.step in (Step.DONE, Step.WITHDRAW, Step.WITHDRAWN), after.step
    # A closed petition takes no new answers.
    closed = facts.petition.closed_reason(facts.now) is not None
    if closed and facts.signature is None and outcome.info is None:
        withdrawing = isinstance(event, Command) and event.name == "withdraw"
        choosing_language = isinstance(event, Pressed) and event.data.startswith("lang:")
        if not (withdrawing or choosing_language):
            assert after.step == Step.CLOSED


def apply_to_world(world: World, journey: Journey, outcome: Any) -> World:
    """Do what JourneyService does with an outcome (record, withdraw, switch language)."""
    facts, total = world.facts, world.total
    if outcome.sign:
        assert journey.country is not None
        total += 1
        signature = Signature(total, facts.now, journey.country, "fuzzCode1234")
        facts = replace(facts, signature=signature)
    elif outcome.withdraw:
        total -= 1
        facts = replace(facts, signature=None)
    if outcome.language is not None:
        facts = replace(facts, language=outcome.language)
    return replace(world, facts=facts, total=total)


def screens_for(journey: Journey, world: World, outcome: Any) -> dict[str, Screen]:
    facts = world.facts
    rendered = {}
    for language in dict.fromkeys((facts.language, *world.render_languages)):
        view = View(
            petition=facts.petition,
            t=translator(language),
            total=world.total,
            now=facts.now,
            bot_username=BOT_USERNAME,
            signature=facts.signature,
            profile_name=facts.profile_name,
            notice=outcome.notice,
            notice_args=outcome.notice_args,
            retention_days=30,
        )
        if outcome.info is not None:
            rendered[language] = render_info(outcome.info, view)
        else:
            rendered[language] = render(journey, view)
    return rendered


def next_event(data: st.DataObject, on_screen: list[str], seen: list[str]) -> Event:
    """Mostly what a person would do (press what is shown, go back, type), sometimes anything."""
    kind = data.draw(st.integers(min_value=0, max_value=10), label="kind")
    forward = [pressed for pressed in on_screen if not pressed.endswith((":back", ":language"))]
    if kind <= 3 and forward:
        return Pressed(data.draw(st.sampled_from(forward), label="forward button on screen"))
    if kind == 4 and on_screen:
        return Pressed(data.draw(st.sampled_from(on_screen), label="button on screen"))
    if kind == 5 and seen:
        return Pressed(data.draw(st.sampled_from(seen), label="button seen earlier"))
    if kind == 6:
        name = data.draw(st.sampled_from((*VALID_NAMES, "Canada", "Deutschland", "ja")))
        return Typed(name)
    return data.draw(any_event, label="any event")


@settings(max_examples=300, deadline=None, database=None)
@given(world=worlds, data=st.data())
def test_random_journeys_keep_every_invariant(world: World, data: st.DataObject) -> None:
    journey = Journey()
    on_screen: list[str] = []
    seen: set[str] = set()
    events = data.draw(st.integers(min_value=1, max_value=40), label="events")
    for _ in range(events):
        event = next_event(data, on_screen, sorted(seen))
        signed_before = world.facts.signature is not None
        outcome = step(journey, event, world.facts)
        check_outcome(journey, event, world, outcome)
        if signed_before:
            assert not outcome.sign
        if outcome.sign:
            tally("signed")
        world = apply_to_world(world, outcome.journey, outcome)
        journey = outcome.journey
        screens = screens_for(journey, world, outcome)
        for language, screen in screens.items():
            check_screen(screen, language)
        on_screen = callback_data(screens[world.facts.language])
        seen.update(on_screen)


@settings(max_examples=200, deadline=None, database=None)
@given(event=any_event, before=st.sampled_from([s for s in Step]), world=worlds)
def test_any_event_from_any_step_is_answered(event: Event, before: Step, world: World) -> None:
    """Whatever step a journey was stored at (maybe by an older version), any event is fine."""
    journey = Journey(
        step=before,
        country="CA",
        meets_minimum_age=True,
        consent=True,
        name="Ada Lovelace",
        resume_step=Step.COUNTRY if before == Step.INTRO else None,
    )
    outcome = step(journey, event, world.facts)
    check_outcome(journey, event, world, outcome)
    world = apply_to_world(world, outcome.journey, outcome)
    for language, screen in screens_for(outcome.journey, world, outcome).items():
        check_screen(screen, language)


def test_every_country_renders_in_every_language() -> None:
    """Whatever country a supporter picks (a fuzzed walk reaches only a few of them)."""
    petitions = {code: make_petition(targets=[code]) for code in COUNTRY_CODES}
    problems = []
    for language in available_languages():
        for code, petition in petitions.items():  # addressed to that country, too
            journey = Journey(country=code, name="Ada", meets_minimum_age=True, consent=True)
            view = View(
                petition=petition,
                t=translator(language),
                total=3,
                now=NOW,
                bot_username=BOT_USERNAME,
                signature=Signature(3, NOW, code, "fuzzCode1234"),
                country_counts={code: 1},
            )
            screens = {here.value: render(replace(journey, step=here), view) for here in Step}
            screens["/status"] = render_info(Info.STATUS, view)
            for name, screen in screens.items():
                try:
                    check_screen(screen, language)
                except (AssertionError, EntityParseError) as error:
                    problems.append(f"{language} {code} {name}: {error}")
    assert problems == [], f"{len(problems)} broken screens, e.g. " + "\n".join(problems[:12])


# --- the real bot -----------------------------------------------------------------------------


@pytest.fixture
async def bot(server: FakeBotAPI, tmp_path: Path, petition: Petition) -> AsyncIterator[BotInstance]:
    async with BotInstance(server, f"sqlite:///{tmp_path}/fuzz.db", petition) as instance:
        yield instance


GROUP_CHAT = {"id": -100_777, "type": "supergroup", "title": "Fuzzers"}
CHANNEL_CHAT = {"id": -100_888, "type": "channel", "title": "News"}
NEW_GROUP_IDS = itertools.count()


def sticker() -> dict[str, Any]:
    return dict(STICKER)


def photo() -> dict[str, Any]:
    return {"photo": [{"file_id": "p1", "file_unique_id": "pu1", "width": 90, "height": 90}]}


def member(user: FakeUser, status: str) -> dict[str, Any]:
    return {"status": status, "user": user.user}


# Updates the bot answers in the private chat (a message without text gets "use the buttons").
ANSWERED_KINDS: dict[str, Callable[[FakeUser, str], dict[str, Any]]] = {
    "sticker": lambda user, text: {"message": sticker()},
    "photo": lambda user, text: {"message": photo()},
    "photo with caption": lambda user, text: {"message": {**photo(), "caption": text[:1024]}},
    "/start in a group": lambda user, text: {
        "message": {
            "text": "/start",
            # A new group each time: the rate limiter allows 20 messages a minute per group.
            "chat": {**GROUP_CHAT, "id": -200_000 - next(NEW_GROUP_IDS)},
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        }
    },
}
# Updates the bot leaves alone on purpose.
IGNORED_KINDS: dict[str, Callable[[FakeUser, str], dict[str, Any]]] = {
    "edited_message": lambda user, text: {"edited_message": {"text": text or "edited"}},
    "channel_post": lambda user, text: {
        "channel_post": {"text": text or "post", "chat": CHANNEL_CHAT, "sender_chat": CHANNEL_CHAT}
    },
    "inline_query": lambda user, text: {"inline_query": {"query": text[:256]}},
    "my_chat_member": lambda user, text: {
        "my_chat_member": {
            "chat": user.chat,
            "from": user.user,
            "date": 0,
            "old_chat_member": member(user, "member"),
            "new_chat_member": {**member(user, "kicked"), "until_date": 0},
        }
    },
    "group message": lambda user, text: {"message": {"text": text or "hello", "chat": GROUP_CHAT}},
    "group sticker": lambda user, text: {"message": {**sticker(), "chat": GROUP_CHAT}},
    "callback without message": lambda user, text: {
        "callback_query": {"data": "intro:sign", "chat_instance": "ci"}
    },
    "inline callback": lambda user, text: {
        "callback_query": {"data": "preview:sign", "inline_message_id": "inline-1"}
    },
    "callback in a group": lambda user, text: {
        "callback_query": {
            "data": "intro:sign",
            "message": {"message_id": 1, "date": 1, "chat": GROUP_CHAT, "text": "x"},
        }
    },
}


@dataclass(frozen=True)
class Action:
    kind: str  # "text", "deep link", "press", "button", "walk", "answered", "ignored"
    value: str = ""
    variant: str = ""

    def __repr__(self) -> str:  # keep falsifying examples readable
        shown = self.value if len(self.value) <= 60 else f"{self.value[:60]}…({len(self.value)})"
        return (
            f"Action({self.kind!r}, {shown!r}{', ' + repr(self.variant) if self.variant else ''})"
        )


# Every kind of odd input at least once, whatever Hypothesis generates besides.
EVERY_KIND = [
    Action("text", "x" * MAX_INCOMING_TEXT),
    Action("text", "🙂" * (MAX_INCOMING_TEXT // 2)),
    Action("text", "\u202e\u200b\u2066 \u200f\u200d\ufeff"),
    Action("text", "\u0000\u0007 <b>&amp; & </i>"),
    Action("text", "/start@another_bot"),
    Action("text", "/nosuchcommand payload"),
    Action("deep link", "/start r_abcd1234"),
    Action("deep link", "/start " + "A" * 300),
    Action("deep link", "/start r_$$$$ \u200f"),
    Action("press", "age:yes:extra:parts"),
    Action("press", "z" * 64),
    Action("press", "z" * 64),  # the same screen again: "not modified"
    Action("walk", "7"),
    Action("press", "lang:ar"),
    Action("text", "Ada Lovelace"),
    Action("press", "country:pick:ZZ"),
    *[Action("answered", "caption", kind) for kind in ANSWERED_KINDS],
    *[Action("ignored", "text", kind) for kind in IGNORED_KINDS],
    *[Action("ignored", "", kind) for kind in IGNORED_KINDS],
]

# The one press that records a signature is left out, so nothing is signed during the fuzzing.
fuzz_press_data = press_data.filter(lambda data: not data.startswith("preview:sign"))
actions = st.one_of(
    st.builds(Action, st.just("text"), typed_text.map(fits_telegram)),
    st.builds(Action, st.just("text"), st.builds("/{} {}".format, command_names, payloads)),
    st.builds(Action, st.just("deep link"), payloads.map(lambda p: fits_telegram(f"/start {p}"))),
    st.builds(Action, st.just("press"), fuzz_press_data),
    *[st.builds(Action, st.just("button"), st.integers(0, 20).map(str))] * 2,
    st.builds(Action, st.just("walk"), st.integers(1, 7).map(str)),
    st.builds(Action, st.just("answered"), mixed_text, st.sampled_from(sorted(ANSWERED_KINDS))),
    st.builds(Action, st.just("ignored"), mixed_text, st.sampled_from(sorted(IGNORED_KINDS))),
)
supporters = st.tuples(
    st.sampled_from(VALID_NAMES[:-1]), st.sampled_from(["en", "ar", "ja", "ru", "pt-br", None])
)
BOT_LOGGERS = re.compile(r"^(bot|storage|telegram)(\.|$)")
NOT_MODIFIED = "message is not modified"


class Fuzzer:
    """One supporter, and the bookkeeping to tell "answered" from "silent" precisely."""

    def __init__(self, server: FakeBotAPI, user: FakeUser) -> None:
        self.server = server
        self.user = user

    def replies(self, chat_id: int | None = None) -> int:
        return len(self.server.replies_to(self.user.chat_id if chat_id is None else chat_id))

    def keyboard(self) -> list[str]:
        """Callback data of the latest keyboard's buttons."""
        stored = self.user._find_keyboard_message()
        if stored is None:
            return []
        return [
            button["callback_data"]
            for row in stored.inline_keyboard
            for button in row
            if "callback_data" in button
        ]

    async def press_shown(self, index: int) -> None:
        """Press a button shown on the latest keyboard; index % 3 != 0: not "back"."""
        buttons = [data for data in self.keyboard() if not data.startswith("preview:sign")]
        if index % 3:
            buttons = [data for data in buttons if not data.endswith((":back", ":language"))]
        if buttons:
            await self.press(buttons[index % len(buttons)])

    async def press(self, data: str) -> None:
        """Press forged data on the latest keyboard: the bot must show a screen, unless the
        screen it would show is exactly the one there already ("not modified")."""
        replies, calls = self.replies(), len(self.server.calls)

        def answered() -> bool:
            if self.replies() > replies:
                return True
            return any(
                call.method == "editMessageText"
                and NOT_MODIFIED in str(call.response.get("description", ""))
                for call in self.server.calls[calls:]
            )

        await self.user.press_data(data, expect_reply=False)
        await self.server.wait_until(answered, timeout=5)

    async def expect_nothing_after(self, push: Callable[[], Any]) -> None:
        """Push an update the bot ignores; then prove the silence with a probe that is answered:
        a supporter's updates are processed in order, so by the probe's reply it is over."""
        groups, replies = self.replies(GROUP_CHAT["id"]), self.replies()
        await push()
        await self.user.send("/help")
        assert self.replies() == replies + 1, self.server.replies_to(self.user.chat_id)[replies:]
        assert self.replies(GROUP_CHAT["id"]) == groups

    async def act(self, action: Action) -> None:
        user = self.user
        if action.kind in ("text", "deep link"):
            if decode_text(action.value, BOT_USERNAME) is None:  # /command@another_bot
                await self.expect_nothing_after(
                    lambda: user.send_raw({"message": {"text": action.value}}, expect_reply=False)
                )
            else:
                await user.send(action.value)
        elif action.kind == "press":
            await self.press(action.value)
        elif action.kind == "button":  # a real button of the latest keyboard, but "Sign now"
            await self.press_shown(int(action.value))
        elif action.kind == "walk":  # several steps forward, to fuzz the later steps too
            for index in range(int(action.value)):
                await self.press_shown(index + 1)
        elif action.kind == "answered":
            await user.send_raw(ANSWERED_KINDS[action.variant](user, action.value))
        else:
            update = IGNORED_KINDS[action.variant](user, action.value)
            await self.expect_nothing_after(lambda: user.send_raw(update, expect_reply=False))


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        f"{record.name}: {record.getMessage()}\n{record.exc_text or ''}"
        for record in caplog.records
        if record.levelno >= logging.ERROR and BOT_LOGGERS.match(record.name)
    ]


PROGRESS = [Step.INTRO, Step.DEMANDS, Step.COUNTRY, Step.SEARCH, Step.AGE, Step.GUARDIAN]
PROGRESS += [Step.CONSENT, Step.NAME, Step.PREVIEW]


class Counter:
    next_user_id = 60_000


@settings(
    max_examples=60,  # one running bot for all of them; ~75 ms each
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(script=st.lists(actions, min_size=1, max_size=30), supporter=supporters)
@example(script=EVERY_KIND, supporter=("Ada Lovelace", "ja"))
async def test_fuzzed_supporter_is_always_answered_and_can_still_sign(
    server: FakeBotAPI,
    bot: BotInstance,
    caplog: pytest.LogCaptureFixture,
    script: list[Action],
    supporter: tuple[str, str | None],
) -> None:
    caplog.set_level(logging.WARNING)
    Counter.next_user_id += 1
    name, language_code = supporter
    user = server.user(Counter.next_user_id, name, language_code=language_code)
    fuzzer = Fuzzer(server, user)
    signed_before = len(await signature_rows(bot))
    await user.send("/start")
    deepest = 0
    for action in script:
        await fuzzer.act(action)
        record = await bot.storage.load(bot.petition.id, user.user_id)
        if record.journey is not None and record.journey.step in PROGRESS:
            deepest = max(deepest, PROGRESS.index(record.journey.step))
    tally(f"deepest step while fuzzing: {PROGRESS[deepest]}")
    assert errors_logged(caplog) == []
    assert len(await signature_rows(bot)) == signed_before, "signed while fuzzing"
    # Nothing was ever said in the channel (the probes cover the private chat and the group).
    assert server.replies_to(CHANNEL_CHAT["id"]) == []

    # The same supporter can still sign, in English, with their profile name.
    await user.send("/start")
    await fuzzer.press("lang:en")
    for label in ("Sign the petition", "Canada", "or older", "I agree", "Use this name"):
        await user.press(label)
    shown = unisolated(user.last)
    assert "Name:" in shown and validate_name(name)[0] in shown
    await user.press("Sign now")
    number = translator("en").number(signed_before + 1)  # "1,000" after 999 examples
    assert f"You are signer #{number}." in unisolated(user.last)
    rows = await signature_rows(bot)
    assert [row[0] for row in rows].count(user.user_id) == 1
    assert len(rows) == signed_before + 1
    assert errors_logged(caplog) == []
