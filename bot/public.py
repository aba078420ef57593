"""A public, read-only count for campaign websites: `/count.json` and a `/badge.svg`.

Campaign pages embed the live count, so every visitor's browser may ask for it: thousands of
requests a minute at a busy moment. The database must not feel that, so the counts are read at
most once per `refresh_seconds` however many requests arrive (concurrent ones share a single
read), and browsers and CDNs are told to cache for as long. When the database is down the last
good numbers are served (a slightly old count beats a broken campaign page); only before the
first successful read is the answer 503. Nothing here identifies a supporter: only totals.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol
from xml.sax.saxutils import escape, quoteattr

from aiohttp import web

from bot.clock import Clock, utc_now
from bot.petition import Petition
from bot.petitions import Catalog
from bot.screens import plain_text
from bot.serving import ServerLimits, bound_port, serve
from storage.records import Overview

log = logging.getLogger(__name__)

COUNT_PATH = "/count.json"
BADGE_PATH = "/badge.svg"
JSON_TYPE = "application/json"
SVG_TYPE = "image/svg+xml"

BADGE_LABEL = "signatures"
BADGE_HEIGHT = 20
BADGE_PADDING = 10  # 5 px either side of each half's text, as shields.io draws it
LABEL_COLOUR = "#555"
COLOUR_OPEN = "#007ec6"  # blue: collecting
COLOUR_REACHED = "#4c1"  # green: the petition's own goal is reached
COLOUR_PAUSED = "#9f9f9f"  # grey: not accepting signatures right now
# Verdana 11 px, the badge font: most glyphs are about 7 px wide, these about half as wide.
WIDE_CHAR_PX = 7.0
NARROW_CHAR_PX = 4.0
NARROW_CHARS = frozenset(" ,.:;!|'`ijlftr()[]/-")


class CountSource(Protocol):
    """The one read the endpoint needs; every `storage.base.Storage` provides it."""

    async def overview(self, petition_id: str) -> Overview: ...


@dataclass(frozen=True, slots=True)
class Representation:
    """One response body, ready to send: encoded once per refresh, not once per request."""

    body: bytes
    etag: str  # quoted, as it goes in the header
    content_type: str
    charset: str | None


def etag_of(body: bytes) -> str:
    """A strong ETag for a body, quoted as it goes in the header (every public answer's)."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _represent(body: bytes, content_type: str, charset: str | None) -> Representation:
    return Representation(body, etag_of(body), content_type, charset)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the endpoint shows between two database reads."""

    petition: str
    title: str
    total: int
    goal: int  # the goal shown to supporters (live admin goal, raised once reached)
    paused: bool
    countries: dict[str, int]  # best first
    updated_at: datetime
    count_json: Representation
    badge_svg: Representation


def text_width(text: str) -> float:
    """Estimated width in px of `text` in Verdana 11 px (the badge has no font metrics)."""
    return sum(NARROW_CHAR_PX if char in NARROW_CHARS else WIDE_CHAR_PX for char in text)


def badge_svg(label: str, value: str, colour: str) -> str:
    """A shields.io "flat" badge: grey label on the left, coloured value on the right."""
    label_width = math.ceil(text_width(label)) + BADGE_PADDING
    value_width = math.ceil(text_width(value)) + BADGE_PADDING
    width = label_width + value_width
    label_x = label_width / 2
    value_x = label_width + value_width / 2
    summary = f"{label}: {value}"
    label_text, value_text = escape(label), escape(value)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{BADGE_HEIGHT}" '
        f'role="img" aria-label={quoteattr(summary)}>'
        f"<title>{escape(summary)}</title>"
        '<linearGradient id="s" x2="0" y2="100%">'
        '<stop offset="0" stop-color="#bbb" stop-opacity=".1"/>'
        '<stop offset="1" stop-opacity=".1"/>'
        "</linearGradient>"
        f'<clipPath id="r"><rect width="{width}" height="{BADGE_HEIGHT}" rx="3" fill="#fff"/>'
        "</clipPath>"
        '<g clip-path="url(#r)">'
        f'<rect width="{label_width}" height="{BADGE_HEIGHT}" fill="{LABEL_COLOUR}"/>'
        f'<rect x="{label_width}" width="{value_width}" height="{BADGE_HEIGHT}" '
        f'fill="{colour}"/>'
        f'<rect width="{width}" height="{BADGE_HEIGHT}" fill="url(#s)"/>'
        "</g>"
        '<g fill="#fff" text-anchor="middle" '
        'font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">'
        f'<text x="{label_x:g}" y="15" fill="#010101" fill-opacity=".3">{label_text}</text>'
        f'<text x="{label_x:g}" y="14">{label_text}</text>'
        f'<text x="{value_x:g}" y="15" fill="#010101" fill-opacity=".3">{value_text}</text>'
        f'<text x="{value_x:g}" y="14">{value_text}</text>'
        "</g></svg>"
    )


def iso_utc(moment: datetime) -> str:
    """ISO-8601 in UTC with a `Z`, the form every browser's `Date.parse` reads."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def build_snapshot(petition: Petition, overview: Overview, now: datetime) -> Snapshot:
    """Turn one database read into both response bodies (the same numbers the bot shows)."""
    live = petition.with_live(overview.goal, overview.paused)
    total = overview.total
    goal = live.goal_for(total)
    paused = live.paused
    countries = dict(sorted(overview.countries.items(), key=lambda item: (-item[1], item[0])))
    # Plain text: petition text is Telegram HTML, a campaign page shows characters.
    title = plain_text(petition.text_for(petition.default_language).title)
    document = {
        "petition": petition.id,
        "title": title,
        "total": total,
        "goal": goal,
        "paused": paused,
        "countries": countries,
        "updated_at": iso_utc(now),
    }
    count_body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    if paused:
        colour = COLOUR_PAUSED
    elif total >= live.goal:
        colour = COLOUR_REACHED
    else:
        colour = COLOUR_OPEN
    badge = badge_svg(BADGE_LABEL, f"{total:,} / {goal:,}", colour).encode()
    return Snapshot(
        petition=petition.id,
        title=title,
        total=total,
        goal=goal,
        paused=paused,
        countries=countries,
        updated_at=now,
        count_json=_represent(count_body, JSON_TYPE, "utf-8"),
        badge_svg=_represent(badge, SVG_TYPE, None),
    )


async def _no_sniffing(_: web.Request, response: web.StreamResponse) -> None:
    """Every answer of the public server is taken for the type it declares, never guessed."""
    response.headers["X-Content-Type-Options"] = "nosniff"


def etag_matches(request: web.Request, etag: str) -> bool:
    """If-None-Match uses the weak comparison (RFC 9110 §13.1.2): W/ is ignored."""
    wanted = request.if_none_match
    if not wanted:
        return False
    bare = etag.strip('"')
    return any(tag.value in ("*", bare) for tag in wanted)


class CountCache:
    """One petition's numbers, read from the database at most once per `refresh_seconds`."""

    def __init__(
        self, storage: CountSource, petition: Petition, refresh_seconds: float, clock: Clock
    ) -> None:
        self.storage = storage
        self.petition = petition  # replaced by a reload: the next read shows the new text
        self.refresh_seconds = refresh_seconds
        self.clock = clock
        self._snapshot: Snapshot | None = None
        self._attempted_at: datetime | None = None  # last read, whether it worked or not
        self._refresh: asyncio.Task[Snapshot | None] | None = None

    def _is_fresh(self, now: datetime) -> bool:
        if self._attempted_at is None:
            return False
        age = (now - self._attempted_at).total_seconds()
        return 0 <= age < self.refresh_seconds  # a clock set back counts as stale

    async def snapshot(self) -> Snapshot | None:
        """The current numbers (None: the database was never read successfully).

        Requests that arrive while a read is under way wait for that same read (single
        flight); the read is shielded so a visitor who goes away does not cancel it for the
        others. A failed read also counts as a read: the database is not asked again before
        `refresh_seconds`, so an outage is not hammered by every page view.
        """
        if self._is_fresh(self.clock()):
            return self._snapshot
        if self._refresh is None or self._refresh.done():  # done: cancelled before it ran
            self._refresh = asyncio.create_task(self._read(), name="public-counts-refresh")
        return await asyncio.shield(self._refresh)

    async def _read(self) -> Snapshot | None:
        try:
            overview = await self.storage.overview(self.petition.id)
            now = self.clock()
            self._snapshot = build_snapshot(self.petition, overview, now)
            self._attempted_at = now
        except Exception as error:  # any database failure: keep serving the last good numbers
            self._attempted_at = self.clock()
            log.warning(
                "public counts of %r: cannot read the database (%s); serving %s",
                self.petition.id,
                error,
                "the last good counts" if self._snapshot else "503 until it can",
            )
        finally:
            self._refresh = None
        return self._snapshot

    async def cancel(self) -> None:
        refresh = self._refresh
        if refresh is not None and not refresh.done():
            refresh.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresh


class PublicCounts:
    """Serves every petition's counts over HTTP: `?petition=<id>`, else the default one
    (the only petition, or the newest open one)."""

    def __init__(
        self,
        storage: CountSource,
        petitions: Petition | Callable[[], Catalog],
        *,
        refresh_seconds: float = 5.0,
        clock: Clock = utc_now,
    ) -> None:
        if refresh_seconds <= 0:
            raise ValueError("refresh_seconds must be positive")
        if isinstance(petitions, Petition):
            fixed = Catalog((petitions,))
            self.catalog: Callable[[], Catalog] = lambda: fixed
        else:
            self.catalog = petitions
        self.storage = storage
        self.refresh_seconds = refresh_seconds
        self.clock = clock
        self.max_age = max(1, math.ceil(refresh_seconds))
        self._caches: dict[str, CountCache] = {}
        self.app = web.Application()
        self.app.router.add_get(COUNT_PATH, self.on_count)
        self.app.router.add_get(BADGE_PATH, self.on_badge)
        self.app.on_cleanup.append(self._on_cleanup)
        self.app.on_response_prepare.append(_no_sniffing)

    async def snapshot(self, petition_id: str | None = None) -> Snapshot | None:
        """A petition's numbers (None: unknown petition, or never read successfully)."""
        catalog = self.catalog()
        petition = catalog.get(petition_id) if petition_id else catalog.default(self.clock())
        if petition is None:
            return None
        cache = self._caches.get(petition.id)
        if cache is None:
            cache = CountCache(self.storage, petition, self.refresh_seconds, self.clock)
            self._caches[petition.id] = cache
        cache.petition = petition
        return await cache.snapshot()

    async def on_count(self, request: web.Request) -> web.StreamResponse:
        return await self._respond(request, lambda snapshot: snapshot.count_json)

    async def on_badge(self, request: web.Request) -> web.StreamResponse:
        return await self._respond(request, lambda snapshot: snapshot.badge_svg)

    async def _respond(
        self, request: web.Request, pick: Callable[[Snapshot], Representation]
    ) -> web.StreamResponse:
        wanted = request.query.get("petition")
        if wanted is not None and self.catalog().get(wanted) is None:
            return web.json_response(
                {"error": "no such petition"},
                status=404,
                headers={"Access-Control-Allow-Origin": "*", "Cache-Control": "no-store"},
            )
        snapshot = await self.snapshot(wanted)
        if snapshot is None:
            return web.json_response(
                {"error": "counts unavailable"},
                status=503,
                headers={
                    "Access-Control-Allow-Origin": "*",
                    "Cache-Control": "no-store",
                    "Retry-After": str(self.max_age),
                },
            )
        chosen = pick(snapshot)
        headers = {
            "Access-Control-Allow-Origin": "*",
            "Cache-Control": f"public, max-age={self.max_age}",
            "ETag": chosen.etag,
        }
        if etag_matches(request, chosen.etag):
            return web.Response(status=304, headers=headers)
        return web.Response(
            body=chosen.body,
            content_type=chosen.content_type,
            charset=chosen.charset,
            headers=headers,
        )

    async def _on_cleanup(self, app: web.Application) -> None:
        """Do not leave a database read running after the server (and storage) stop."""
        for cache in self._caches.values():
            await cache.cancel()


async def serve_public_counts(
    counts: PublicCounts, host: str, port: int, *, limits: ServerLimits | None = None
) -> web.AppRunner:
    """Start listening; port 0 lets the OS pick one (see `bound_port`).

    Through `bot.serving`: slow or idle clients are dropped in seconds and connections are
    capped, so a flood of half-open connections cannot take the bot offline (issue #16).
    Returns the runner, so the caller decides when to stop (`stop_public_counts`).
    """
    runner = await serve(counts.app, host, port, limits=limits, name="public counts")
    log.info("public counts on http://%s:%s%s", host, bound_port(runner), COUNT_PATH)
    return runner


async def stop_public_counts(runner: web.AppRunner) -> None:
    await runner.cleanup()
