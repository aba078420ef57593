"""The live counter for campaign sites: /embed, /counts.json, /widget.js (over HTTP)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from bot.embed import EMBED_POLICY, widget_script
from bot.i18n import accept_languages, requested_language
from bot.petition import Petition
from bot.petitions import Catalog
from bot.public import bound_port
from tests.bidi import unisolated
from tests.clock import NOW
from tests.conftest import make_petition, petition_data, signature_request
from tests.fakes import FakeBotAPI
from tests.harness import BotInstance
from tests.stored import SIGNED

FIRST, SECOND = "test-petition", "second-petition"


def _second() -> Petition:
    text = petition_data()["text"]
    # Petition text is Telegram HTML: tags are dropped, entities shown as the characters.
    text["en"] = {**text["en"], "title": "Open the <b>&lt;archives&gt;</b> &amp; more"}
    text["ar"] = {"title": "افتحوا الأرشيف"}
    return make_petition(id=SECOND, text=text, goal=1000)


CATALOG = Catalog((make_petition(), _second()))


@pytest.fixture
async def public(server: FakeBotAPI, database_url: str) -> AsyncIterator[tuple[BotInstance, str]]:
    async with BotInstance(server, database_url, CATALOG, public_port=0) as bot:
        runner = bot.application.bot_data.public_runner  # type: ignore[union-attr]
        yield bot, f"http://127.0.0.1:{bound_port(runner)}"


async def fetch(url: str, **options: Any) -> tuple[int, Mapping[str, str], bytes]:
    """Status, headers (case-insensitive) and body."""
    async with aiohttp.ClientSession() as session, session.get(url, **options) as response:
        return response.status, response.headers.copy(), await response.read()


def test_accept_language_is_ranked_by_quality() -> None:
    header = "de-CH;q=0.5, fr;q=0.9, *;q=0.1, en;q=0, pt-BR"
    assert accept_languages(header) == ["pt_BR", "fr", "de_CH"]
    assert accept_languages("garbage;q=x, ,") == []
    assert requested_language(None, "xx, fr;q=0.8", "en") == "fr"
    assert requested_language("ar", "fr", "en") == "ar"
    assert requested_language("klingon", None, "de") == "de"


async def test_embed_page_is_translated_formatted_and_locked_down(
    public: tuple[BotInstance, str],
) -> None:
    bot, base = public
    for user_id in (1, 2, 3):
        await bot.storage.sign(signature_request(FIRST, user_id), SIGNED)
    status, headers, body = await fetch(f"{base}/embed?petition={FIRST}&lang=fr")
    page = body.decode()
    assert status == 200
    assert "<title>Protéger les prisonniers d&#x27;opinion</title>" in page
    assert 'value="3"' in page and 'max="50"' in page
    assert 'lang="fr" dir="ltr"' in page
    assert "https://t.me/petition_test_bot?start=test-petition" in page
    assert 'role="status" aria-live="polite"' in page
    assert headers["Content-Security-Policy"] == EMBED_POLICY
    assert "'unsafe-inline'" not in EMBED_POLICY and "<style" not in page
    assert "<script>" not in page  # the only script is widget.js, from this server
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "Set-Cookie" not in headers


async def test_embed_speaks_the_browsers_language_right_to_left(
    public: tuple[BotInstance, str],
) -> None:
    _, base = public
    status, _, body = await fetch(
        f"{base}/embed?petition={SECOND}", headers={"Accept-Language": "ar, en;q=0.5"}
    )
    page = body.decode()
    assert status == 200 and 'lang="ar" dir="rtl"' in page and "افتحوا الأرشيف" in page
    assert "التوقيعات: \u20680\u2069 من \u20681,000\u2069" in page  # CLDR, isolated in Arabic


async def test_titles_are_escaped_and_unknown_petitions_are_404(
    public: tuple[BotInstance, str],
) -> None:
    _, base = public
    _, _, body = await fetch(f"{base}/embed?petition={SECOND}&lang=en")
    assert "Open the &lt;archives&gt; &amp; more" in body.decode()
    assert (await fetch(f"{base}/embed?petition=nope"))[0] == 404
    assert (await fetch(f"{base}/counts.json?petition=nope"))[0] == 404


async def test_one_request_carries_every_counter_of_a_page_with_an_etag(
    public: tuple[BotInstance, str],
) -> None:
    bot, base = public
    await bot.storage.sign(signature_request(SECOND, 5), SIGNED)
    url = f"{base}/counts.json?petition={FIRST},{SECOND},nope&lang=de"
    status, headers, body = await fetch(url)
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "*"
    document = json.loads(body)
    counters = document["counters"]
    assert set(counters) == {FIRST, SECOND}
    assert counters[SECOND]["total"] == 1 and counters[SECOND]["goal"] == 1000
    # CLDR's German numbers, each isolated as in every message
    assert unisolated(counters[SECOND]["summary"]) == "Unterschriften: 1 von 1.000 (0\xa0%)"
    assert counters[SECOND]["summary"].startswith("Unterschriften: \u20681\u2069 von")
    assert counters[SECOND]["link"].endswith(f"?start={SECOND}")
    assert document["refresh"] >= 1
    again = await fetch(url, headers={"If-None-Match": headers["ETag"]})
    assert again[0] == 304


async def test_a_closed_petition_offers_to_read_it(server: FakeBotAPI, database_url: str) -> None:
    ended = make_petition(deadline=(NOW - timedelta(days=2)).date().isoformat())
    async with BotInstance(server, database_url, ended, public_port=0) as bot:
        runner = bot.application.bot_data.public_runner  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{bound_port(runner)}"
        _, _, body = await fetch(f"{base}/embed?lang=en")  # the only petition
        assert "Read the petition" in body.decode()


async def test_widget_script_and_stylesheet_are_small_and_cacheable(
    public: tuple[BotInstance, str],
) -> None:
    _, base = public
    status, headers, body = await fetch(f"{base}/widget.js")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")
    assert b"__TEMPLATE__" not in body and b'class=\\"pc\\"' in body
    assert len(widget_script()) < 6_000
    assert "max-age=3600" in headers["Cache-Control"]
    status, headers, body = await fetch(f"{base}/counter.css")
    assert status == 200 and headers["Content-Type"].startswith("text/css")
