"""A campaign page with the iframe and the widget, in headless Chromium (Debian's package).

The page lives on another origin, as on a real campaign site; a supporter signs through the
fake Bot API and both counters follow within seconds. Screenshots go to docs/.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from playwright.async_api import Browser, Page, Request, expect

from bot.i18n import translator
from bot.petitions import Catalog
from bot.public import bound_port
from bot.settings import PROJECT_ROOT
from tests.conftest import make_petition, petition_data, signature_request
from tests.fakes import FakeBotAPI
from tests.harness import BotInstance
from tests.stored import SIGNED

DOCS = PROJECT_ROOT / "docs"
FIRST, SECOND = "test-petition", "second-petition"
FOLLOW_SECONDS = 10


def _catalog() -> Catalog:
    text = petition_data()["text"]
    text["en"] = {**text["en"], "title": "Open the archives"}
    return Catalog((make_petition(), make_petition(id=SECOND, text=text, goal=1000)))


def counted(total: int, goal: int, share: str) -> str:
    """The counter's line in English, each figure isolated as the server writes it."""
    t = translator("en")
    return t.format(
        t.gettext("Signatures: {total} of {goal} ({share})"), total=total, goal=goal, share=share
    )


def campaign_page(base: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Our campaign</title>
<style>body {{ font-family: serif; color: red; }} p {{ margin: 3em; }}</style></head>
<body>
<h1>Our campaign</h1>
<iframe id="embed" src="{base}/embed?petition={FIRST}&lang=en" width="440" height="190"
        style="border: 0" title="Live signature count"></iframe>
<div id="first" data-petition-counter data-petition="{FIRST}"></div>
<div id="second" data-petition-counter data-petition="{SECOND}"></div>
<script src="{base}/widget.js" async></script>
</body></html>"""


async def serve(html: str) -> tuple[web.AppRunner, str]:
    async def page(_: web.Request) -> web.Response:
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{bound_port(runner)}/"


async def sign_in_chat(server: FakeBotAPI, user_id: int) -> None:
    user = server.user(user_id, "Supporter")
    await user.send(f"/start {FIRST}")
    for label in ("Sign the petition", "Canada", "or older", "I agree", "Use this name"):
        await user.press(label)
    await user.press("Sign now")
    assert "You are signer #" in user.last


async def test_iframe_and_widget_show_and_follow_the_live_count(
    server: FakeBotAPI, tmp_path: Path, browser: Browser
) -> None:
    async with BotInstance(
        server,
        f"sqlite:///{tmp_path}/browser.db",
        _catalog(),
        public_port=0,
        public_refresh_seconds=0.5,
    ) as bot:
        for user_id in (1, 2):
            await bot.storage.sign(signature_request(FIRST, user_id), SIGNED)
        runner = bot.application.bot_data.public_runner  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{bound_port(runner)}"
        host, url = await serve(campaign_page(base))
        try:
            page: Page = await browser.new_page(viewport={"width": 520, "height": 640})
            from_host: list[str] = []

            def note(request: Request) -> None:
                if "counts.json" in request.url and request.frame == page.main_frame:
                    from_host.append(request.url)

            page.on("request", note)
            await page.goto(url)
            embed = page.frame_locator("#embed").locator(".pc-count")
            widget = page.locator("#first .pc-count")  # inside the shadow root
            await expect(embed).to_have_text(counted(2, 50, "4%"))
            await expect(widget).to_have_text(counted(2, 50, "4%"))
            await expect(page.locator("#second .pc-title")).to_have_text("Open the archives")
            # The site's CSS (red serif text) does not reach into the counter.
            colour = await widget.evaluate("element => getComputedStyle(element).color")
            assert colour != "rgb(255, 0, 0)"
            await sign_in_chat(server, 3)
            await expect(embed).to_have_text(counted(3, 50, "6%"), timeout=FOLLOW_SECONDS * 1000)
            await expect(widget).to_have_text(counted(3, 50, "6%"), timeout=FOLLOW_SECONDS * 1000)
            link = page.locator("#first .pc-sign")
            assert await link.get_attribute("href") == (
                f"https://t.me/petition_test_bot?start={FIRST}"
            )
            # Two counters, one request per refresh, for both petitions.
            assert from_host and all(SECOND in u and FIRST in u for u in from_host)
            DOCS.mkdir(exist_ok=True)
            await page.locator("#embed").screenshot(path=DOCS / "embed.png")
            await page.locator("#first").screenshot(path=DOCS / "widget.png")
        finally:
            await host.cleanup()
