"""The Mini App signing form: the chat's rules (bot.form), its HTTP API (bot.miniapp) through
the whole bot, and the chat and the form agreeing on every signature."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import aiohttp
import pytest

from bot import form, form_texts
from bot.countries import search_countries
from bot.flow import Facts, Notice
from bot.form import Field, Form
from bot.init_data import sign_init_data
from bot.petition import Petition
from bot.petitions import Catalog
from bot.public import bound_port
from storage.records import Journey, Signature, Step
from tests.bidi import unisolated
from tests.clock import NOW
from tests.conftest import make_petition, petition_data
from tests.fakes import FakeBotAPI, FakeUser
from tests.harness import BotInstance

PUBLIC_URL = "https://example.org"
ADMIN = 880001
GOOD = Form("CA", True, False, True, False, "Ada Lovelace")


# --- the form through the chat's rules, on plain values ---------------------------------------


def facts(petition: Petition, **overrides: Any) -> Facts:
    return Facts(petition=petition, now=NOW, **overrides)


def test_a_complete_form_signs_with_every_answer(petition: Petition) -> None:
    answers = replace(GOOD, wants_updates=True, name="  Ada   Lovelace ")
    filled = form.fill(Journey(), answers, facts(petition))
    assert filled.sign and filled.field is None
    journey = filled.journey
    assert (journey.step, journey.country, journey.name) == (Step.SIGNED, "CA", "Ada Lovelace")
    assert journey.consent and journey.wants_updates and journey.meets_minimum_age
    assert journey.answered_minimum_age == 16


def test_a_younger_supporter_signs_with_a_guardians_consent(petition: Petition) -> None:
    answers = replace(GOOD, country="US", age_confirmed=False, guardian_consent=True)
    filled = form.fill(Journey(), answers, facts(petition))
    assert filled.sign and filled.journey.guardian_consent
    assert filled.journey.answered_minimum_age == 13  # the US rule of the petition file


@pytest.mark.parametrize(
    ("answers", "field", "notice"),
    [
        (replace(GOOD, country="XX"), Field.COUNTRY, Notice.STALE_BUTTON),
        (replace(GOOD, country=""), Field.COUNTRY, Notice.STALE_BUTTON),
        (replace(GOOD, country="CA:pick:US"), Field.COUNTRY, Notice.STALE_BUTTON),
        (replace(GOOD, age_confirmed=False), Field.GUARDIAN, Notice.STALE_BUTTON),
        (replace(GOOD, consent=False), Field.CONSENT, Notice.USE_BUTTONS),
        (replace(GOOD, name=""), Field.NAME, Notice.TEXT_EXPECTED),
        (replace(GOOD, name="A"), Field.NAME, Notice.NAME_TOO_SHORT),
        (replace(GOOD, name="x" * 65), Field.NAME, Notice.NAME_TOO_LONG),
        (replace(GOOD, name="Ada t.me/spam"), Field.NAME, Notice.NAME_HAS_LINK),
        (replace(GOOD, name="Ada\u202eLovelace"), Field.NAME, Notice.NAME_HAS_CONTROL_CHARACTERS),
        (replace(GOOD, name="12345"), Field.NAME, Notice.NAME_NEEDS_LETTERS),
    ],
)
def test_the_flow_names_the_field_to_fix(
    petition: Petition, answers: Form, field: Field, notice: Notice
) -> None:
    filled = form.fill(Journey(), answers, facts(petition))
    assert not filled.sign
    assert (filled.field, filled.notice) == (field, notice)


def test_a_guardians_consent_is_ignored_for_those_old_enough(petition: Petition) -> None:
    filled = form.fill(Journey(), replace(GOOD, guardian_consent=True), facts(petition))
    assert filled.sign and not filled.journey.guardian_consent


@pytest.mark.parametrize("closed", [{"paused": True}, {"deadline": "2026-11-22"}])
def test_a_closed_petition_takes_no_form(closed: dict[str, Any]) -> None:
    filled = form.fill(Journey(), GOOD, facts(make_petition(**closed)))
    assert (filled.sign, filled.field) == (False, Field.PETITION)


def test_a_signer_is_told_so_by_the_flow(petition: Petition) -> None:
    signature = Signature(7, NOW, "CA", "code")
    filled = form.fill(Journey(), GOOD, facts(petition, signature=signature))
    assert filled.signed_before and not filled.sign


def test_the_form_starts_afresh_but_keeps_where_the_supporter_came_from() -> None:
    stored = Journey(step=Step.NAME, country="GB", consent=True, referrer="abcd", progress=5)
    start = form.form_journey(stored)
    assert (start.step, start.country, start.consent) == (Step.INTRO, None, False)
    assert (start.referrer, start.progress) == ("abcd", 5)


# --- the API, through the whole bot -----------------------------------------------------------


def init_data(server: FakeBotAPI, user_id: int, **user: Any) -> str:
    values = {"id": user_id, "first_name": f"Supporter {user_id}", **user}
    fields = {
        "query_id": f"q{user_id}",
        "user": json.dumps(values, separators=(",", ":")),
        "auth_date": str(int(NOW.timestamp())),
    }
    return sign_init_data(fields, server.token)


class FormAPI:
    """The page's requests, made by a test."""

    def __init__(self, server: FakeBotAPI, base: str, session: aiohttp.ClientSession) -> None:
        self.server = server
        self.base = base
        self.session = session

    async def sign(
        self, user_id: int, petition: str = "test-petition", **changes: Any
    ) -> tuple[int, dict[str, Any]]:
        body = {
            "init_data": init_data(self.server, user_id),
            "petition": petition,
            "country": "CA",
            "age_confirmed": True,
            "guardian_consent": False,
            "consent": True,
            "wants_updates": False,
            "name": f"Supporter {user_id}",
            **changes,
        }
        return await self.post("/app/api/sign", body)

    async def open(self, user_id: int, **body: Any) -> tuple[int, dict[str, Any]]:
        return await self.post(
            "/app/api/form", {"init_data": init_data(self.server, user_id), **body}
        )

    async def post(self, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        data = body if isinstance(body, str) else json.dumps(body)
        headers = {"Content-Type": "application/json"}
        async with self.session.post(self.base + path, data=data, headers=headers) as response:
            return response.status, await response.json()


@asynccontextmanager
async def running(
    server: FakeBotAPI, database_url: str, petitions: Petition | Catalog, **settings: Any
) -> AsyncIterator[tuple[BotInstance, FormAPI]]:
    settings = {"public_port": 0, "public_url": PUBLIC_URL, **settings}
    async with BotInstance(server, database_url, petitions, **settings) as instance:
        runner = instance.application.bot_data.public_runner  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{bound_port(runner)}"
        async with aiohttp.ClientSession() as session:
            yield instance, FormAPI(server, base, session)


async def test_sign_then_signing_again_gets_the_same_number(
    server: FakeBotAPI, database_url: str, petition: Petition
) -> None:
    async with running(server, database_url, petition) as (bot, api):
        assert await api.sign(501) == (200, {"number": 1, "total": 1})
        assert await api.sign(502, wants_updates=True) == (200, {"number": 2, "total": 2})
        assert await api.sign(501, name="Someone Else") == (409, {"number": 1, "total": 2})
        assert await bot.storage.total("test-petition") == 2
        personal = await bot.storage.personal_data("test-petition", 502)
        assert personal.signature is not None
        assert (personal.signature.name, personal.signature.wants_updates) == (
            "Supporter 502",
            True,
        )


async def test_every_broken_rule_names_its_field(
    server: FakeBotAPI, database_url: str, petition: Petition
) -> None:
    async with running(server, database_url, petition) as (bot, api):
        cases = [
            ({"consent": False}, "consent", "Please agree to the text above to sign."),
            ({"age_confirmed": False}, "guardian_consent", "Under 16, you can sign only"),
            (
                {"country": "US", "age_confirmed": False},
                "guardian_consent",
                "Under 13, you can sign only",
            ),
            ({"country": "XX"}, "country", "Please choose your country from the list."),
            ({"name": "A"}, "name", "That name is too short: please use at least 2 characters."),
            ({"name": "see t.me/x"}, "name", "can't contain links"),
            ({"name": " \u200b "}, "name", "Please type the name you want to sign with (2–64"),
        ]
        for changes, field, error in cases:
            status, body = await api.sign(503, **changes)
            assert (status, body["field"]) == (422, field), changes
            assert error in unisolated(body["error"]), body
        assert await bot.storage.total("test-petition") == 0
        assert (await api.sign(503, country="US", age_confirmed=False, guardian_consent=True))[
            0
        ] == 200


@pytest.mark.parametrize(
    ("closed", "error"),
    [
        ({"deadline": "2026-11-22"}, "This petition closed on November 22, 2026"),
        ({"paused": True}, "This petition is paused"),
    ],
)
async def test_a_closed_petition_refuses_the_form(
    server: FakeBotAPI, database_url: str, closed: dict[str, Any], error: str
) -> None:
    async with running(server, database_url, make_petition(**closed)) as (bot, api):
        status, body = await api.sign(504)
        assert (status, body["field"]) == (422, "petition")
        assert error in unisolated(body["error"])
        assert unisolated((await api.open(504))[1]["closed"]).startswith(error)
        assert await bot.storage.total("test-petition") == 0


async def test_without_telegrams_word_nothing_is_signed(
    server: FakeBotAPI, database_url: str, petition: Petition
) -> None:
    async with running(server, database_url, petition) as (bot, api):
        other_bot = sign_init_data({"user": '{"id":505}', "auth_date": "1795000000"}, "1:OTHER")
        stale_fields = {"user": '{"id":505}', "auth_date": str(int(NOW.timestamp()) - 86_401)}
        stale = sign_init_data(stale_fields, server.token)
        for forged in ("", "user=%7B%22id%22%3A505%7D&hash=00", other_bot, stale):
            status, body = await api.sign(505, init_data=forged)
            assert status == 401
            assert body == {"error": "Please open this form from the bot in Telegram."}
        assert (await api.open(505, init_data="forged"))[0] == 401
        assert await bot.storage.total("test-petition") == 0
        # Telegram did not vouch for them: their browser's best language we speak, as the
        # website counter chooses it (Klingon first, then French).
        headers = {"Accept-Language": "tlh, fr;q=0.8, de;q=0.5"}
        async with api.session.post(
            api.base + "/app/api/sign", data="{}", headers=headers
        ) as response:
            assert response.status == 400
            assert await response.json() == form_texts.api_error("fr", "bad_request")


async def test_unknown_petitions_and_malformed_requests(
    server: FakeBotAPI, database_url: str, petition: Petition
) -> None:
    async with running(server, database_url, petition) as (_, api):
        status, body = await api.sign(506, petition="no-such-petition")
        assert (status, body) == (404, {"error": "This petition could not be found."})
        assert (await api.open(506, petition="no-such-petition"))[0] == 404
        assert (await api.post("/app/api/sign", "{not json"))[0] == 400
        assert (await api.post("/app/api/sign", "[]"))[0] == 400
        assert (await api.sign(506, consent="yes"))[0] == 400  # a boolean, or it is malformed
        assert (await api.sign(506, name=None))[0] == 400
        async with api.session.get(api.base + "/app?petition=no-such-petition") as response:
            assert response.status == 404


async def test_the_chat_and_the_form_are_one_petition(
    server: FakeBotAPI, database_url: str, petition: Petition
) -> None:
    async with running(server, database_url, petition) as (bot, api):
        alice = server.user(601, "Alice")
        await sign_in_chat(alice)
        assert "You are signer #1." in unisolated(alice.last)
        assert await api.sign(602, name="Bob App") == (200, {"number": 2, "total": 2})
        await alice.send("/status")
        assert "2 people have signed" in unisolated(alice.last)
        bob = server.user(602, "Bob")
        await bob.send("/mydata")
        assert "Signature #2" in unisolated(bob.last) and "Name: Bob App" in unisolated(bob.last)
        await bob.send("/start")
        assert "as signer #2" in unisolated(bob.last)  # the chat knows he signed in the form
        await bob.send("/withdraw")
        await bob.press("Yes, withdraw my signature")
        assert "withdrawn" in unisolated(bob.last)
        assert await bot.storage.total("test-petition") == 1
        assert await api.sign(602) == (200, {"number": 3, "total": 2})  # numbers never reused
        status, body = await api.sign(601)
        assert (status, body) == (409, {"number": 1, "total": 2})  # signed in the chat


async def test_a_signature_from_the_form_reaches_milestones_and_the_funnel(
    server: FakeBotAPI, database_url: str
) -> None:
    admin = server.user(ADMIN, "Admin")
    petition = make_petition(goal=5, milestones=[1])
    async with running(server, database_url, petition, admin_ids=str(ADMIN)) as (bot, api):
        await admin.send("/help")
        assert (await api.sign(701))[0] == 200
        await admin.wait_for_replies(2)
        assert "passed 1 signatures (1 now)" in unisolated(admin.last)
        overview = await bot.storage.overview("test-petition")
        assert overview.funnel["signed"] == overview.funnel["started"] == 1


async def test_the_form_opens_in_the_supporters_language(
    server: FakeBotAPI, database_url: str, petition: Petition
) -> None:
    async with running(server, database_url, petition) as (_, api):
        status, page = await api.open(801, petition="test-petition")
        assert status == 200
        assert (page["lang"], page["dir"], page["title"]) == (
            "en",
            "ltr",
            "Protect prisoners of conscience",
        )
        assert page["demands"] == ["First demand.", "Second demand.", "Third demand."]
        assert page["ages"] == {"default": "16", "by_country": {"US": "13"}}
        assert page["texts"]["submit"] == "✍️ Sign the petition"  # the chat's own words
        assert page["name"] == "Supporter 801" and page["signed"] is None
        french = init_data(server, 802, language_code="fr-CA")
        status, page = await api.post("/app/api/form", {"init_data": french})
        assert (page["lang"], page["title"]) == ("fr", "Protéger les prisonniers d'opinion")
        arabic = init_data(server, 803, language_code="ar")
        status, page = await api.post("/app/api/form", {"init_data": arabic})
        assert page["dir"] == "rtl"
        await api.sign(801)
        assert "as signer #1" in unisolated((await api.open(801))[1]["signed"])


async def test_the_country_search_is_the_chats(
    server: FakeBotAPI, database_url: str, petition: Petition
) -> None:
    async with running(server, database_url, petition) as (_, api):
        for query, language in (("deutsch", "de"), ("  côte   d'iv ", "fr"), ("DEU", "en")):
            url = f"{api.base}/app/api/countries"
            params = {"q": query, "lang": language}
            async with api.session.get(url, params=params) as response:
                found = [country["code"] for country in (await response.json())["countries"]]
            assert found == search_countries(" ".join(query.split()), language)
            assert found


async def test_the_page_is_strict_about_what_it_loads(
    server: FakeBotAPI, database_url: str, petition: Petition
) -> None:
    async with running(server, database_url, petition) as (_, api):
        async with api.session.get(api.base + "/app?petition=test-petition") as response:
            assert response.status == 200
            html = await response.text()
            policy = response.headers["Content-Security-Policy"]
            etag = response.headers["ETag"]
        assert "script-src 'self' https://telegram.org" in policy
        assert "connect-src 'self'" in policy and "default-src 'none'" in policy
        assert '<script src="https://telegram.org/js/telegram-web-app.js"></script>' in html
        assert "<script>" not in html and "style=" not in html  # nothing inline
        async with api.session.get(
            api.base + "/app?petition=test-petition", headers={"If-None-Match": etag}
        ) as response:
            assert response.status == 304
        for asset, kind in (("app.js", "text/javascript"), ("app.css", "text/css")):
            async with api.session.get(f"{api.base}/app/{asset}") as response:
                assert (response.status, response.content_type) == (200, kind)


async def test_the_buttons_appear_only_with_a_public_url(
    server: FakeBotAPI, database_url: str, petition: Petition
) -> None:
    alice = server.user(901, "Alice")
    async with running(server, database_url, petition):
        assert server.menu_buttons[None] == {
            "type": "web_app",
            "text": "Sign in a form",
            "web_app": {"url": f"{PUBLIC_URL}/app"},
        }
        await alice.send("/start")
        assert form_button(alice) == {
            "text": "📝 Sign in a form",
            "web_app": {"url": f"{PUBLIC_URL}/app?petition=test-petition"},
        }
    async with running(server, database_url, petition, public_url=None) as (_, api):
        assert server.menu_buttons[None] == {"type": "default"}  # taken away again
        await alice.send("/start")
        assert form_button(alice) is None
        async with api.session.get(api.base + "/app") as response:
            assert response.status == 404


async def test_no_menu_button_is_set_when_none_was_ever_offered(
    server: FakeBotAPI, database_url: str, petition: Petition
) -> None:
    async with BotInstance(server, database_url, petition, public_port=0):
        assert server.calls_for("setChatMenuButton") == []
    async with BotInstance(server, database_url, petition, public_url=PUBLIC_URL):
        # PUBLIC_URL without the public server running: nothing would answer the form
        assert server.calls_for("setChatMenuButton") == []


async def test_several_petitions_sign_the_one_named_and_follow_the_chat(
    server: FakeBotAPI, database_url: str
) -> None:
    text = petition_data()["text"]
    second = make_petition(id="second-petition", text={**text, "en": {**text["en"], "title": "B"}})
    catalog = Catalog((make_petition(), second))
    async with running(server, database_url, catalog) as (bot, api):
        carol = server.user(1001, "Carol")
        await carol.send("/start second-petition")
        page = (await api.open(1001))[1]
        assert (page["petition"], page["title"]) == ("second-petition", "B")  # her open one
        assert await api.sign(1001, petition="test-petition") == (
            200,
            {"number": 1, "total": 1},
        )
        await carol.send("/withdraw")  # acts on the petition she just signed in the form
        await carol.press("Yes, withdraw my signature")
        assert await bot.storage.total("test-petition") == 0


def form_button(user: FakeUser) -> dict[str, Any] | None:
    keyboard = user.last_message.get("reply_markup", {}).get("inline_keyboard", [])
    found = [button for row in keyboard for button in row if "web_app" in button]
    return found[0] if found else None


async def sign_in_chat(user: FakeUser) -> None:
    await user.send("/start")
    for label in ("Sign the petition", "Canada", "or older", "I agree", "Use this name"):
        await user.press(label)
    await user.press("Sign now")
