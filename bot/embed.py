"""The live counter for campaign websites: `/embed` (an iframe page) and `/widget.js`.

Both show the same counter (title, count against the goal, a progress bar, a link that opens
the petition in Telegram), in the visitor's language with numbers formatted by CLDR (Babel),
right to left where the language is. `/counts.json?petition=a,b&lang=xx` gives every counter
of a page its text in one request per refresh; the counts come from the public count's
snapshots, so the database is read no more often than for `/count.json`.

One markup template (bot/web/counter.html) is filled here for /embed and by widget.js in the
browser; one stylesheet (counter.css) styles both. No cookies, no third-party requests, and a
strict Content-Security-Policy on /embed (no inline script or style at all).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cache
from html import escape
from pathlib import Path

from aiohttp import web

from bot.i18n import Translator, requested_language, translator
from bot.petition import Petition
from bot.public import PublicCounts, Snapshot, etag_matches, etag_of
from bot.screens import plain_text

WEB = Path(__file__).resolve().parent / "web"
MAX_PETITIONS_PER_REQUEST = 20
ASSET_MAX_AGE = 3600
EMBED_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors *",  # made to be framed by any campaign site
    ]
)
COMMON_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


@dataclass(frozen=True, slots=True)
class Counter:
    """What one counter shows, already in the visitor's language (the JSON widget.js reads)."""

    lang: str
    dir: str
    title: str
    summary: str
    total: int
    goal: int
    link: str
    sign: str

    @classmethod
    def of(cls, petition: Petition, snapshot: Snapshot, t: Translator, link: str) -> Counter:
        live = petition.with_live(None, snapshot.paused)
        share = t.percent(snapshot.total / snapshot.goal if snapshot.goal else 0)
        summary = t.format(
            t.gettext("Signatures: {total} of {goal} ({share})"),
            total=t.number(snapshot.total),
            goal=t.number(snapshot.goal),
            share=share,
        )
        closed = live.closed_reason(snapshot.updated_at) is not None
        sign = t.gettext("📜 Read the petition") if closed else t.gettext("✍️ Sign the petition")
        return cls(
            lang=t.language.replace("_", "-"),
            dir="rtl" if t.right_to_left else "ltr",
            title=plain_text(petition.text_for(t.language).title),
            summary=summary,
            total=snapshot.total,
            goal=snapshot.goal,
            link=link,
            sign=sign,
        )

    def html(self) -> str:
        values = {name: escape(str(value)) for name, value in asdict(self).items()}
        return _asset("counter.html").format(**values).strip()


@cache
def _asset(name: str) -> str:
    return (WEB / name).read_text(encoding="utf-8")


@cache
def widget_script() -> bytes:
    """widget.js with the counter's template and stylesheet built in (one file to include)."""
    script = _asset("widget.js")
    script = script.replace('"__TEMPLATE__"', json.dumps(_asset("counter.html").strip()))
    return script.replace('"__CSS__"', json.dumps(_asset("counter.css"))).encode()


def embed_page(counter: Counter, petition_id: str) -> str:
    """The iframe page: the counter rendered, then kept live by widget.js."""
    return (
        "<!doctype html>\n"
        f'<html lang="{escape(counter.lang)}" dir="{counter.dir}">\n'
        '<head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(counter.title)}</title>"
        '<link rel="stylesheet" href="counter.css"></head>\n'
        f'<body><div data-petition-counter data-petition="{escape(petition_id)}" '
        f'data-lang="{escape(counter.lang)}">{counter.html()}</div>'
        '<script src="widget.js" async></script></body>\n'
        "</html>\n"
    )


class Embeds:
    """The routes, on the public count's server and its snapshots."""

    def __init__(self, counts: PublicCounts, bot_username: Callable[[], str]) -> None:
        self.counts = counts
        self.bot_username = bot_username
        app = counts.app
        app.router.add_get("/embed", self.on_embed)
        app.router.add_get("/counts.json", self.on_counts)
        app.router.add_get("/widget.js", self.on_widget)
        app.router.add_get("/counter.css", self.on_stylesheet)

    def link(self, petition_id: str) -> str:
        return f"https://t.me/{self.bot_username()}?start={petition_id}"

    async def counter(self, petition: Petition, language: str) -> Counter | None:
        snapshot = await self.counts.snapshot(petition.id)
        if snapshot is None:
            return None
        return Counter.of(petition, snapshot, translator(language), self.link(petition.id))

    def _petition(self, petition_id: str | None) -> Petition | None:
        catalog = self.counts.catalog()
        if not petition_id:
            return catalog.default(self.counts.clock())
        return catalog.get(petition_id)

    async def on_embed(self, request: web.Request) -> web.StreamResponse:
        petition = self._petition(request.query.get("petition"))
        if petition is None:
            return web.Response(status=404, text="no such petition", headers=COMMON_HEADERS)
        language = requested_language(
            request.query.get("lang"),
            request.headers.get("Accept-Language"),
            petition.default_language,
        )
        counter = await self.counter(petition, language)
        if counter is None:
            return self._unavailable()
        body = embed_page(counter, petition.id).encode()
        return self._respond(request, body, "text/html", self.counts.max_age, EMBED_POLICY)

    async def on_counts(self, request: web.Request) -> web.StreamResponse:
        asked = dict.fromkeys(request.query.get("petition", "").split(","))
        counters: dict[str, dict[str, object]] = {}
        known = False
        for petition_id in list(asked)[:MAX_PETITIONS_PER_REQUEST]:
            petition = self._petition(petition_id)
            if petition is None:
                continue  # a typo on one counter leaves the others working
            known = True
            language = requested_language(
                request.query.get("lang"),
                request.headers.get("Accept-Language"),
                petition.default_language,
            )
            counter = await self.counter(petition, language)
            if counter is not None:
                counters[petition_id or petition.id] = asdict(counter)
        if not known:
            return web.json_response(
                {"error": "no such petition"},
                status=404,
                headers={**COMMON_HEADERS, "Access-Control-Allow-Origin": "*"},
            )
        if not counters:
            return self._unavailable()
        document = {"refresh": self.counts.max_age, "counters": counters}
        body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
        return self._respond(request, body, "application/json", self.counts.max_age)

    async def on_widget(self, request: web.Request) -> web.StreamResponse:
        return self._respond(request, widget_script(), "text/javascript", ASSET_MAX_AGE)

    async def on_stylesheet(self, request: web.Request) -> web.StreamResponse:
        body = _asset("counter.css").encode()
        return self._respond(request, body, "text/css", ASSET_MAX_AGE)

    def _respond(
        self,
        request: web.Request,
        body: bytes,
        content_type: str,
        max_age: int,
        policy: str | None = None,
    ) -> web.StreamResponse:
        etag = etag_of(body)
        headers = {
            **COMMON_HEADERS,
            "Access-Control-Allow-Origin": "*",
            "Cache-Control": f"public, max-age={max_age}",
            "ETag": etag,
        }
        if policy is not None:
            headers["Content-Security-Policy"] = policy
        if etag_matches(request, etag):
            return web.Response(status=304, headers=headers)
        return web.Response(body=body, content_type=content_type, charset="utf-8", headers=headers)

    def _unavailable(self) -> web.Response:
        return web.Response(
            status=503,
            text="counts unavailable",
            headers={**COMMON_HEADERS, "Retry-After": str(self.counts.max_age)},
        )
