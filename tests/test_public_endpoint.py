"""The public count endpoint: shape, badge, caching headers, single flight and outages."""

from __future__ import annotations

import asyncio
import logging
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.petition import Petition
from bot.public import PublicCounts, bound_port, serve_public_counts, stop_public_counts
from storage import open_storage
from storage.records import Journey, Overview, Step
from tests.conftest import NOW, make_petition, signature_request

SVG = "{http://www.w3.org/2000/svg}"
REFRESH = 5.0


class Clock:
    """A clock the test moves by hand: no sleeps, no timing."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class FakeStorage:
    """Only what the endpoint reads; counts reads, can fail, and can hold a read open."""

    total: int = 0
    countries: dict[str, int] = field(default_factory=dict)
    goal: int | None = None
    paused: bool | None = None
    reads: int = 0
    fail: bool = False
    gate: asyncio.Event | None = None
    entered: asyncio.Event = field(default_factory=asyncio.Event)

    async def overview(self, petition_id: str) -> Overview:
        self.reads += 1
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise ConnectionError("database is down")
        return Overview(
            total=self.total,
            goal=self.goal,
            paused=self.paused,
            opted_in=0,
            referred=0,
            countries=dict(self.countries),
            languages={},
            funnel={},
        )


@dataclass
class Endpoint:
    counts: PublicCounts
    storage: FakeStorage
    clock: Clock
    http: aiohttp.ClientSession
    base: str

    def get(self, path: str, **options: Any) -> Any:
        return self.http.get(self.base + path, **options)


@asynccontextmanager
async def running(counts: PublicCounts) -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    """A real server on a port the OS picks, as the bot runs it, and a client for it."""
    runner = await serve_public_counts(counts, "127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as http:
            yield http, f"http://127.0.0.1:{bound_port(runner)}"
    finally:
        await stop_public_counts(runner)


@pytest.fixture
async def endpoint(petition: Petition) -> AsyncIterator[Endpoint]:
    storage = FakeStorage(total=12345, countries={"GB": 345, "US": 12000}, goal=50000)
    clock = Clock()
    counts = PublicCounts(storage, petition, refresh_seconds=REFRESH, clock=clock)
    async with running(counts) as (http, base):
        yield Endpoint(counts, storage, clock, http, base)


async def test_count_json_shape_and_values(endpoint: Endpoint) -> None:
    async with endpoint.get("/count.json") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/json; charset=utf-8"
        body = await response.json()
    assert body == {
        "petition": "test-petition",
        "title": "Protect prisoners of conscience",
        "total": 12345,
        "goal": 50000,
        "paused": False,
        "countries": {"US": 12000, "GB": 345},
        "updated_at": "2026-11-23T12:00:00Z",
    }
    assert list(body["countries"]) == ["US", "GB"]  # best first


async def test_goal_and_pause_fall_back_to_the_petition_file_and_auto_raise() -> None:
    storage = FakeStorage(total=60)  # no live overrides: the file's goal of 50 applies
    petition = make_petition(paused=True)
    counts = PublicCounts(storage, petition, clock=Clock())
    async with running(counts) as (http, base), http.get(base + "/count.json") as response:
        body = await response.json()
    assert (body["total"], body["goal"], body["paused"]) == (60, 100, True)

    fixed = make_petition(auto_raise_goal=False)
    storage = FakeStorage(total=60, paused=False)
    counts = PublicCounts(storage, fixed, clock=Clock())
    snapshot = await counts.snapshot()
    assert snapshot is not None and (snapshot.goal, snapshot.paused) == (50, False)


async def test_badge_is_well_formed_svg_with_formatted_numbers(endpoint: Endpoint) -> None:
    async with endpoint.get("/badge.svg") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "image/svg+xml"
        text = await response.text()
    root = ET.fromstring(text)
    assert root.tag == f"{SVG}svg"
    title = root.find(f"{SVG}title")
    assert title is not None and title.text == "signatures: 12,345 / 50,000"
    texts = [element.text for element in root.iter(f"{SVG}text")]
    assert "signatures" in texts and "12,345 / 50,000" in texts
    # Wider numbers make a wider badge; the two halves add up to the whole.
    rects = root.findall(f"{SVG}g/{SVG}rect")
    label, value = float(rects[0].get("width", 0)), float(rects[1].get("width", 0))
    assert label + value == float(root.get("width", 0))
    assert value > label


async def test_cors_and_cache_headers(endpoint: Endpoint) -> None:
    for path in ("/count.json", "/badge.svg"):
        async with endpoint.get(path) as response:
            assert response.headers["Access-Control-Allow-Origin"] == "*"
            assert response.headers["Cache-Control"] == "public, max-age=5"
            assert response.headers["ETag"].startswith('"')
            assert response.headers["X-Content-Type-Options"] == "nosniff"
    async with endpoint.get("/count.json?petition=nope") as response:
        assert response.status == 404
        assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_etag_gives_304_until_the_count_changes(endpoint: Endpoint) -> None:
    async with endpoint.get("/count.json") as response:
        etag = response.headers["ETag"]
    async with endpoint.get("/count.json", headers={"If-None-Match": etag}) as response:
        assert response.status == 304
        assert response.headers["ETag"] == etag
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert await response.read() == b""
    weak_list = f'"something-else", W/{etag}'
    async with endpoint.get("/count.json", headers={"If-None-Match": weak_list}) as response:
        assert response.status == 304
    async with endpoint.get("/badge.svg", headers={"If-None-Match": etag}) as response:
        assert response.status == 200  # another body, another tag

    endpoint.storage.total += 1
    endpoint.clock.advance(REFRESH)
    async with endpoint.get("/count.json", headers={"If-None-Match": etag}) as response:
        assert response.status == 200
        assert response.headers["ETag"] != etag
        assert (await response.json())["total"] == 12346


async def test_head_works_and_unknown_paths_are_404(endpoint: Endpoint) -> None:
    async with endpoint.http.head(endpoint.base + "/count.json") as response:
        assert response.status == 200
        assert response.headers["Access-Control-Allow-Origin"] == "*"
    for path in ("/", "/healthz", "/count", "/export.csv"):
        async with endpoint.get(path) as response:
            assert response.status == 404


async def test_fifty_concurrent_requests_read_the_database_once(endpoint: Endpoint) -> None:
    endpoint.storage.gate = asyncio.Event()

    async def fetch(path: str) -> int:
        async with endpoint.get(path) as response:
            await response.read()
            return response.status

    requests = [
        asyncio.create_task(fetch("/count.json" if n % 2 else "/badge.svg")) for n in range(50)
    ]
    await endpoint.storage.entered.wait()  # the first read is under way (and held open)
    endpoint.storage.gate.set()
    assert await asyncio.gather(*requests) == [200] * 50
    assert endpoint.storage.reads == 1


async def test_concurrent_callers_share_one_in_flight_read(endpoint: Endpoint) -> None:
    """All callers are waiting before the read finishes: they must join it, not start more."""
    endpoint.storage.gate = asyncio.Event()
    callers = [asyncio.create_task(endpoint.counts.snapshot()) for _ in range(50)]
    await endpoint.storage.entered.wait()  # every caller has run up to its first wait by now
    assert not any(caller.done() for caller in callers)
    endpoint.storage.gate.set()
    snapshots = await asyncio.gather(*callers)
    assert endpoint.storage.reads == 1
    assert all(snapshot is snapshots[0] for snapshot in snapshots)


async def test_a_visitor_leaving_does_not_cancel_the_shared_read(endpoint: Endpoint) -> None:
    endpoint.storage.gate = asyncio.Event()
    leaving = asyncio.create_task(endpoint.counts.snapshot())
    staying = asyncio.create_task(endpoint.counts.snapshot())
    await endpoint.storage.entered.wait()
    leaving.cancel()
    endpoint.storage.gate.set()
    snapshot = await staying
    assert snapshot is not None and snapshot.total == 12345
    assert endpoint.storage.reads == 1


async def test_reads_again_only_after_the_refresh_interval(endpoint: Endpoint) -> None:
    async with endpoint.get("/count.json") as response:
        assert (await response.json())["total"] == 12345
    endpoint.storage.total = 20000
    endpoint.clock.advance(REFRESH - 0.5)
    async with endpoint.get("/count.json") as response:
        assert (await response.json())["total"] == 12345  # still the cached snapshot
    assert endpoint.storage.reads == 1
    endpoint.clock.advance(0.5)
    async with endpoint.get("/count.json") as response:
        body = await response.json()
    assert body["total"] == 20000
    assert body["updated_at"] == "2026-11-23T12:00:05Z"
    assert endpoint.storage.reads == 2


async def test_clock_set_back_does_not_freeze_the_count(endpoint: Endpoint) -> None:
    await endpoint.counts.snapshot()
    endpoint.clock.advance(-3600)
    endpoint.storage.total = 1
    snapshot = await endpoint.counts.snapshot()
    assert snapshot is not None and snapshot.total == 1


async def test_database_outage_serves_the_last_good_counts(
    endpoint: Endpoint, caplog: pytest.LogCaptureFixture
) -> None:
    async with endpoint.get("/count.json") as response:
        good = await response.json()
    endpoint.storage.fail = True
    endpoint.clock.advance(REFRESH)
    with caplog.at_level(logging.WARNING, logger="bot.public"):
        for _ in range(10):
            async with endpoint.get("/count.json") as response:
                assert response.status == 200
                assert await response.json() == good
            async with endpoint.get("/badge.svg") as response:
                assert response.status == 200
    assert endpoint.storage.reads == 2  # the failed read is not retried on every request
    assert "cannot read the database" in caplog.text
    assert "database is down" in caplog.text

    endpoint.clock.advance(REFRESH)
    endpoint.storage.fail = False
    endpoint.storage.total = 13000
    async with endpoint.get("/count.json") as response:
        assert (await response.json())["total"] == 13000  # recovers by itself


async def test_503_before_the_first_successful_read(
    endpoint: Endpoint, caplog: pytest.LogCaptureFixture
) -> None:
    endpoint.storage.fail = True
    with caplog.at_level(logging.WARNING, logger="bot.public"):
        for path in ("/count.json", "/badge.svg"):
            async with endpoint.get(path) as response:
                assert response.status == 503
                assert response.headers["Access-Control-Allow-Origin"] == "*"
                assert response.headers["Cache-Control"] == "no-store"
                assert await response.json() == {"error": "counts unavailable"}
    assert endpoint.storage.reads == 1
    assert "cannot read the database" in caplog.text
    endpoint.storage.fail = False
    endpoint.clock.advance(REFRESH)
    async with endpoint.get("/count.json") as response:
        assert response.status == 200


async def test_titles_and_ids_are_escaped_in_json(petition: Petition) -> None:
    data = petition.model_dump(mode="json")
    data["text"]["en"]["title"] = 'Stop "it" <b>&lt;now&gt;</b> &amp; forever — ñ'  # HTML
    odd = Petition.model_validate(data)
    counts = PublicCounts(FakeStorage(total=1), odd, clock=Clock())
    async with running(counts) as (http, base):
        async with http.get(base + "/count.json") as response:
            assert (await response.json())["title"] == 'Stop "it" <now> & forever — ñ'
        async with http.get(base + "/badge.svg") as response:
            ET.fromstring(await response.text())


def test_port_zero_needs_a_running_server() -> None:
    runner = web.AppRunner(web.Application())
    with pytest.raises(RuntimeError):
        bound_port(runner)


async def test_against_a_real_sqlite_database(tmp_path: Path, petition: Petition) -> None:
    storage = open_storage("sqlite:///" + str(tmp_path / "db.sqlite"))
    await storage.open()
    try:
        for user_id, country in enumerate(["US", "GB", "US", "CA", "US"], start=1):
            request = signature_request(petition.id, user_id, country=country)
            signed = Journey(step=Step.SIGNED, country=country, name="x", consent=True)
            await storage.sign(request, signed)
        await storage.set_live_goal(petition.id, 1000)
        await storage.set_live_paused(petition.id, True)
        clock = Clock()
        counts = PublicCounts(storage, petition, refresh_seconds=REFRESH, clock=clock)
        async with running(counts) as (http, base):
            async with http.get(base + "/count.json") as response:
                body = await response.json()
            assert (body["total"], body["goal"], body["paused"]) == (5, 1000, True)
            assert list(body["countries"].items()) == [("US", 3), ("CA", 1), ("GB", 1)]
            async with http.get(base + "/badge.svg") as response:
                title = ET.fromstring(await response.text()).find(f"{SVG}title")
            assert title is not None and title.text == "signatures: 5 / 1,000"

            await storage.set_live_goal(petition.id, None)  # back to the file's goal of 50
            await storage.set_live_paused(petition.id, None)
            clock.advance(REFRESH)
            async with http.get(base + "/count.json") as response:
                body = await response.json()
            assert (body["total"], body["goal"], body["paused"]) == (5, 50, False)
    finally:
        await storage.close()
