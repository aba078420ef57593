"""The Mini App form in headless Chromium (Debian's package), as Telegram would open it.

Telegram's script is replaced by a small stand-in (the test cannot reach telegram.org, and must
not): it defines `window.Telegram.WebApp` with init data the test signs with the bot's token,
and sets the theme's CSS variables as the real script does. Everything else the page loads must
come from the bot's own server, without a single Content-Security-Policy complaint. No skips:
without Chromium these tests fail. A screenshot of the filled form goes to docs/miniapp.png.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, ConsoleMessage, Page, Route, expect

from bot.i18n import translator
from bot.init_data import sign_init_data
from bot.petition import Petition
from bot.public import bound_port
from bot.screens import View, closed_text
from bot.settings import PROJECT_ROOT
from tests.clock import NOW
from tests.conftest import make_petition
from tests.fakes import FakeBotAPI
from tests.harness import BotInstance

TELEGRAM_SCRIPT = "https://telegram.org/js/telegram-web-app.js"
SCREENSHOT = PROJECT_ROOT / "docs" / "miniapp.png"
THEME = {  # Telegram's light theme, fixed so the screenshot is the same every run
    "bg_color": "#ffffff",
    "text_color": "#000000",
    "hint_color": "#707579",
    "link_color": "#3390ec",
    "button_color": "#3390ec",
    "button_text_color": "#ffffff",
    "secondary_bg_color": "#f4f4f5",
    "destructive_text_color": "#e53935",
}


def filled(message: str, **values: object) -> str:
    """An English message as the form shows it: each value isolated, as the server and the
    page's script fill them in."""
    return translator("en").format(message, **values)


def telegram_stub(init_data: str, user: dict[str, Any]) -> str:
    """What the page needs of telegram-web-app.js, recording the calls it gets."""
    return f"""
(function () {{
  const theme = {json.dumps(THEME)};
  for (const [key, value] of Object.entries(theme)) {{
    document.documentElement.style.setProperty("--tg-theme-" + key.replace(/_/g, "-"), value);
  }}
  const calls = (window.telegramCalls = []);
  window.Telegram = {{ WebApp: {{
    initData: {json.dumps(init_data)},
    initDataUnsafe: {{ user: {json.dumps(user)}, auth_date: {int(NOW.timestamp())} }},
    themeParams: theme,
    colorScheme: "light",
    ready() {{ calls.push("ready"); }},
    expand() {{ calls.push("expand"); }},
    close() {{ calls.push("close"); }},
    openLink(url) {{ calls.push("openLink " + url); }},
    HapticFeedback: {{ notificationOccurred(kind) {{ calls.push("haptic " + kind); }} }},
  }} }};
}})();
"""


class Opened:
    """A page of the form, and everything it asked for and complained about."""

    def __init__(self, page: Page, base: str) -> None:
        self.page = page
        self.base = base
        self.requests: list[str] = []
        self.complaints: list[str] = []
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.complaints.append(str(error)))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            self.complaints.append(message.text)

    def check_clean(self, *answered: int) -> None:
        """No error or CSP complaint but the browser's note of the `answered` error statuses,
        and no request but to our server and for Telegram's script."""
        expected = {f"the server responded with a status of {status} " for status in answered}
        unexpected = [text for text in self.complaints if not any(e in text for e in expected)]
        assert unexpected == []
        elsewhere = [url for url in self.requests if not url.startswith(self.base)]
        assert set(elsewhere) == {TELEGRAM_SCRIPT}


@asynccontextmanager
async def opened_form(
    browser: Browser, bot: BotInstance, server: FakeBotAPI, user: dict[str, Any]
) -> AsyncIterator[Opened]:
    runner = bot.application.bot_data.public_runner  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{bound_port(runner)}"
    fields = {
        "query_id": f"q{user['id']}",
        "user": json.dumps(user, separators=(",", ":")),
        "auth_date": str(int(NOW.timestamp())),
    }
    stub = telegram_stub(sign_init_data(fields, server.token), user)

    async def fulfil(route: Route) -> None:
        await route.fulfill(body=stub, content_type="text/javascript")

    context = await browser.new_context(
        viewport={"width": 420, "height": 860}, locale="en-US", color_scheme="light"
    )
    try:
        page = await context.new_page()
        await page.route(TELEGRAM_SCRIPT, fulfil)
        form = Opened(page, base)
        await page.goto(f"{base}/app?petition=test-petition")
        yield form
    finally:
        await context.close()


@asynccontextmanager
async def bot_for(
    server: FakeBotAPI, tmp_path: Path, petition: Petition
) -> AsyncIterator[BotInstance]:
    database = f"sqlite:///{tmp_path}/miniapp.db"
    settings = {"public_port": 0, "public_url": "https://example.org"}
    async with BotInstance(server, database, petition, **settings) as bot:
        yield bot


async def test_a_supporter_signs_in_the_form(
    server: FakeBotAPI, tmp_path: Path, petition: Petition, browser: Browser
) -> None:
    user = {"id": 4242, "first_name": "Ada", "last_name": "Lovelace", "language_code": "en"}
    async with (
        bot_for(server, tmp_path, petition) as bot,
        opened_form(browser, bot, server, user) as form,
    ):
        page = form.page
        await expect(page.locator("h1")).to_have_text("Protect prisoners of conscience")
        await expect(page.locator("#demands li")).to_have_text(
            ["First demand.", "Second demand.", "Third demand."]
        )
        await expect(page.get_by_label("Your name")).to_have_value("Ada Lovelace")
        # Instant checks, in the server's words.
        await page.get_by_role("button", name="Sign the petition").click()
        await expect(page.locator("#country-error")).to_have_text(
            "Please choose your country from the list."
        )
        await expect(page.locator("#consent-error")).to_have_text(
            "Please agree to the text above to sign."
        )
        name = page.get_by_label("Your name")
        await name.fill("A")
        await name.blur()
        await expect(page.locator("#name-error")).to_have_text(
            filled("That name is too short: please use at least {min} characters.", min=2)
        )
        await name.fill("Ada Lovelace")
        await expect(page.locator("#name-error")).to_have_text("")
        # The country: the chat's search.
        await page.get_by_label("Type the name of your country").fill("germ")
        await page.get_by_role("radio", name="🇩🇪 Germany").check()
        await expect(page.locator("#country-error")).to_have_text("")
        await expect(page.locator("#age-hint")).to_have_text(
            filled(
                "In {country}, people under {age} need a parent's or guardian's consent to sign.",
                country="Germany",
                age=16,
            )
        )
        await page.get_by_role("radio", name=filled("I am {age} or older", age=16)).check()
        await page.get_by_role("checkbox", name="I agree").check()
        await page.get_by_role("checkbox", name="Send me updates about this petition").check()
        await page.locator("#submit").focus()
        await page.locator("#submit").blur()
        SCREENSHOT.parent.mkdir(exist_ok=True)
        await page.screenshot(path=SCREENSHOT, full_page=True, animations="disabled")
        await page.get_by_role("button", name="Sign the petition").click()
        thanks = filled("🎉 Thank you! You are signer #{number}.", number=1)
        await expect(page.locator("#done-text")).to_have_text(thanks)
        await expect(page.locator("#done-count")).to_have_text("Count so far: 1")
        assert await bot.storage.total("test-petition") == 1
        stored = (await bot.storage.personal_data("test-petition", 4242)).signature
        assert stored is not None
        assert (stored.name, stored.country, stored.wants_updates) == ("Ada Lovelace", "DE", True)
        calls = await page.evaluate("window.telegramCalls")
        assert {"ready", "expand", "haptic success"} <= set(calls)
        form.check_clean()


async def test_a_younger_supporter_needs_a_guardian(
    server: FakeBotAPI, tmp_path: Path, petition: Petition, browser: Browser
) -> None:
    user = {"id": 4343, "first_name": "Kid", "language_code": "en"}
    async with (
        bot_for(server, tmp_path, petition) as bot,
        opened_form(browser, bot, server, user) as form,
    ):
        page = form.page
        await page.get_by_role("radio", name="🇺🇸 United States").check()  # a quick choice
        await page.get_by_role("radio", name=filled("I am younger than {age}", age=13)).check()
        await expect(page.locator("#guardian-hint")).to_contain_text(
            filled("Because you are under {age}", age=13)
        )
        await page.get_by_role("checkbox", name="I agree").check()
        await page.get_by_role("button", name="Sign the petition").click()
        await expect(page.locator("#age-error")).to_have_text(
            filled("Under {age}, you can sign only with a parent's or guardian's consent.", age=13)
        )
        assert await bot.storage.total("test-petition") == 0
        await page.get_by_role("checkbox", name="My parent or guardian agrees").check()
        await expect(page.locator("#age-error")).to_have_text("")
        await page.get_by_role("button", name="Sign the petition").click()
        await expect(page.locator("#done-text")).to_have_text(
            filled("🎉 Thank you! You are signer #{number}.", number=1)
        )
        stored = (await bot.storage.personal_data("test-petition", 4343)).signature
        assert stored is not None and stored.guardian_consent
        form.check_clean()


async def test_the_servers_answer_shows_right_to_left(
    server: FakeBotAPI, tmp_path: Path, browser: Browser
) -> None:
    """In Arabic; the petition is paused while the form is open, so the server refuses it."""
    petition = make_petition()
    user = {"id": 4444, "first_name": "Ada", "language_code": "ar"}
    async with (
        bot_for(server, tmp_path, petition) as bot,
        opened_form(browser, bot, server, user) as form,
    ):
        page = form.page
        await expect(page.locator("html")).to_have_attribute("dir", "rtl")
        await expect(page.locator("html")).to_have_attribute("lang", "ar")
        await page.locator("#country-options input").first.check()
        await page.locator("#age-yes").check()
        await page.locator("#consent").check()
        await bot.storage.set_live_paused("test-petition", True)
        await page.locator("#submit").click()
        t = translator("ar")
        paused = closed_text(View(petition.with_live(None, True), t, 0, NOW, ""))
        await expect(page.locator("#form-error")).to_have_text(paused)
        assert await bot.storage.total("test-petition") == 0
        form.check_clean(422)
