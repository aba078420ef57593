"""Slow, idle and too many clients cannot take the bot's HTTP servers down (issue #16, item 1).

Timing: the servers get short timeouts here, and the tests wait generously (10x) for what must
happen; nothing asserts that something happens fast, only that it happens, and not before its
time (a slow machine only makes connections live longer).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import aiohttp
import pytest

from bot import serving
from bot.petition import Petition
from bot.public import PublicCounts, bound_port, serve_public_counts, stop_public_counts
from bot.serving import ConnectionStats, ServerLimits, connection_stats
from tests.conftest import signature_request
from tests.fakes import FakeBotAPI
from tests.harness import BotInstance, WebhookBotInstance
from tests.stored import SIGNED
from tests.test_public_endpoint import FakeStorage

HALF_OPEN = 1000
PARTIAL_HEAD = b"GET /count.json HTTP/1.1\r\nHost: counts.example.org\r\n"  # never finished
PATIENCE = 10  # how many times a timeout the tests wait for it to act


def fast(**overrides: float) -> ServerLimits:
    """Short timeouts. aiohttp's own keep-alive timeout is long unless a test sets it, so what
    closes a connection is the timer under test, on every aiohttp version."""
    values: dict[str, float] = {
        "header_timeout": 1.0,
        "body_timeout": 1.0,
        "keepalive_timeout": 60.0,
        "max_connections": 2 * HALF_OPEN,
    }
    values.update(overrides)
    return ServerLimits(**values)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def enough_file_descriptors() -> None:
    """Each connection costs the test process two descriptors: its end and the server's."""
    limit = serving.raise_open_file_limit()
    needed = 2 * HALF_OPEN + 512
    if limit is not None and limit < needed:
        pytest.skip(f"needs {needed} open files, the hard limit allows {limit}")


class Probe(asyncio.Protocol):
    """A client connection that sends `first` and then nothing: it notes when the server
    closes it, and what the server said."""

    def __init__(self, first: bytes) -> None:
        self.first = first
        self.loop = asyncio.get_running_loop()
        self.opened_at = 0.0
        self.closed_at: float | None = None
        self.closed: asyncio.Future[None] = self.loop.create_future()
        self.received = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # cast, not isinstance: uvloop's transports do not derive from asyncio's classes
        self.transport = transport = cast(asyncio.Transport, transport)
        self.opened_at = self.loop.time()
        if self.first:
            transport.write(self.first)

    def data_received(self, data: bytes) -> None:
        self.received += data

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed_at = self.loop.time()
        if not self.closed.done():
            self.closed.set_result(None)

    @property
    def is_open(self) -> bool:
        return not self.closed.done()

    @property
    def lifetime(self) -> float:
        assert self.closed_at is not None
        return self.closed_at - self.opened_at


@asynccontextmanager
async def probes(port: int, count: int, first: bytes = PARTIAL_HEAD) -> AsyncIterator[list[Probe]]:
    """`count` connections to 127.0.0.1:port, closed on the way out whatever happened."""
    loop = asyncio.get_running_loop()
    opening = asyncio.Semaphore(64)  # within the listen backlog: no SYN retransmit delays
    made: list[Probe] = []

    async def connect() -> None:
        async with opening:
            _, probe = await loop.create_connection(lambda: Probe(first), "127.0.0.1", port)
            made.append(probe)

    try:
        await asyncio.gather(*(connect() for _ in range(count)))
        yield made
    finally:
        for probe in made:
            if probe.transport is not None:
                probe.transport.abort()
        await asyncio.sleep(0)  # let the transports finish closing


async def all_closed(connections: Iterable[Probe], within: float) -> None:
    await asyncio.wait_for(asyncio.gather(*(probe.closed for probe in connections)), within)


async def eventually(condition: object, within: float) -> None:
    """Wait until `condition()` holds, up to `within` seconds."""
    assert callable(condition)
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.05)


@dataclass
class Counts:
    storage: FakeStorage
    port: int
    stats: ConnectionStats

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/count.json"


@asynccontextmanager
async def public_counts(petition: Petition, limits: ServerLimits) -> AsyncIterator[Counts]:
    storage = FakeStorage(total=12345, countries={"GB": 345, "US": 12000}, goal=50000)
    counts = PublicCounts(storage, petition, refresh_seconds=5.0)
    runner = await serve_public_counts(counts, "127.0.0.1", 0, limits=limits)
    try:
        stats = connection_stats(runner)
        assert stats is not None
        yield Counts(storage, bound_port(runner), stats)
    finally:
        await stop_public_counts(runner)


async def get_total(url: str) -> int:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200
        return int((await response.json())["total"])


async def test_a_thousand_half_open_connections_leave_the_count_answering(
    server: FakeBotAPI,
    tmp_path: Path,
    petition: Petition,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The attack of issue #16 on the real bot: 1,000 connections that never finish their
    headers. The count keeps answering, and the server drops them all after the timeout."""
    header_timeout = 5.0  # time for a slow machine to open all 1,000 before any is dropped
    monkeypatch.setattr(serving, "DEFAULT_LIMITS", fast(header_timeout=header_timeout))
    bot = BotInstance(
        server, f"sqlite:///{tmp_path}/h.db", petition, public_port=0, public_listen="127.0.0.1"
    )
    async with bot:
        for user_id in (1, 2, 3):
            await bot.storage.sign(signature_request(petition.id, user_id), SIGNED)
        runner = bot.application.bot_data.public_runner  # type: ignore[union-attr]
        port, stats = bound_port(runner), connection_stats(runner)
        assert stats is not None
        url = f"http://127.0.0.1:{port}/count.json"
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with probes(port, HALF_OPEN) as connections:
            opened = loop.time()
            assert await get_total(url) == 3
            assert all(probe.is_open for probe in connections)  # answered while all were open
            assert stats.peak_open >= HALF_OPEN + 1

            await all_closed(connections, PATIENCE * header_timeout)
            lifetimes = sorted(probe.lifetime for probe in connections)
            assert lifetimes[0] >= header_timeout * 0.9  # none before its time
            assert stats.header_timeouts == HALF_OPEN
            assert await get_total(url) == 3
        assert stats.evicted == stats.refused == 0
        with capsys.disabled():
            print(
                f"\n{HALF_OPEN} half-open connections opened in {opened - started:.2f} s; "
                f"dropped after {lifetimes[0]:.2f}-{lifetimes[-1]:.2f} s "
                f"(header timeout {header_timeout} s)"
            )


async def test_headers_sent_slowly_do_not_extend_the_deadline(petition: Petition) -> None:
    async with public_counts(petition, fast(header_timeout=1.0)) as counts:
        sent = 1
        async with probes(counts.port, 1, PARTIAL_HEAD[:sent]) as [trickler]:
            while trickler.is_open and sent < len(PARTIAL_HEAD):  # a byte every 50 ms at most
                await asyncio.sleep(0.05)
                if trickler.is_open:
                    assert trickler.transport is not None
                    trickler.transport.write(PARTIAL_HEAD[sent : sent + 1])
                    sent += 1
            await all_closed([trickler], PATIENCE * 1.0)
        assert sent < len(PARTIAL_HEAD)  # dropped while the bytes were still coming
        assert trickler.received.startswith(b"HTTP/1.1 408 ")
        assert counts.stats.header_timeouts == 1


async def test_beyond_the_cap_the_oldest_waiting_connections_make_room(petition: Petition) -> None:
    cap, header_timeout = 50, 2.0
    limits = fast(header_timeout=header_timeout, max_connections=cap)
    async with public_counts(petition, limits) as counts:
        async with probes(counts.port, 4 * cap) as connections:
            assert counts.stats.open <= cap
            await eventually(lambda: sum(p.is_open for p in connections) <= cap, PATIENCE)
            # The server still answers at once: the oldest half-open connection makes room.
            assert await get_total(counts.url) == 12345
            assert counts.stats.peak_open <= cap
            assert counts.stats.evicted >= 3 * cap
            await all_closed(connections, PATIENCE * header_timeout)
        assert await get_total(counts.url) == 12345
        assert counts.stats.peak_open <= cap


async def test_at_the_cap_with_every_connection_busy_new_ones_get_503(petition: Petition) -> None:
    cap = 5
    async with public_counts(petition, fast(max_connections=cap)) as counts:
        counts.storage.gate = asyncio.Event()  # every /count.json waits on the database
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            busy = [asyncio.create_task(get_total(counts.url)) for _ in range(cap)]
            await eventually(lambda: counts.stats.open == cap, PATIENCE)
            await counts.storage.entered.wait()
            async with http.get(counts.url) as refused:
                assert refused.status == 503
            assert counts.stats.refused == 1
            counts.storage.gate.set()
            assert await asyncio.gather(*busy) == [12345] * cap
            assert await get_total(counts.url) == 12345
        assert counts.stats.peak_open == cap


async def test_keep_alive_clients_reuse_their_connection(petition: Petition) -> None:
    limits = fast(header_timeout=5.0, keepalive_timeout=1.0)
    async with public_counts(petition, limits) as counts:
        connector = aiohttp.TCPConnector(limit=1)
        async with aiohttp.ClientSession(connector=connector) as http:
            for _ in range(20):
                async with http.get(counts.url) as response:
                    assert response.status == 200
                    assert (await response.json())["total"] == 12345
            assert counts.stats.accepted == 1  # one connection for all twenty
            # Idle: aiohttp closes it after its keep-alive timeout; the client reconnects.
            await eventually(lambda: counts.stats.open == 0, PATIENCE * 1.0)
            await asyncio.sleep(0.1)  # the client sees the close
            async with http.get(counts.url) as response:
                assert response.status == 200
            assert counts.stats.accepted == 2
        stats = counts.stats
        assert stats.header_timeouts == stats.body_timeouts == stats.idle_closed == 0


async def test_a_slow_body_on_the_webhook_is_dropped(
    server: FakeBotAPI,
    tmp_path: Path,
    petition: Petition,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    body_timeout = 1.0
    monkeypatch.setattr(serving, "DEFAULT_LIMITS", fast(body_timeout=body_timeout))
    server.webhook_targets = []
    async with WebhookBotInstance(server, f"sqlite:///{tmp_path}/w.db", petition) as instance:
        assert instance.webhook is not None and instance.webhook._runner is not None
        stats = connection_stats(instance.webhook._runner)
        assert stats is not None
        head = (
            f"POST {WebhookBotInstance.PATH} HTTP/1.1\r\nHost: bot\r\n"
            "Content-Type: application/json\r\nContent-Length: 5000\r\n"
        )
        with_secret = f"{head}X-Telegram-Bot-Api-Secret-Token: {WebhookBotInstance.SECRET}\r\n"
        requests = [
            (with_secret + '\r\n{"update_id": 1, "message"').encode(),  # read by the handler
            (head + '\r\n{"update_id": 2').encode(),  # 403 at once, then aiohttp lingers
        ]
        with caplog.at_level(logging.ERROR):
            for request in requests:
                async with probes(instance.webhook.port or 0, 1, request) as [slow]:
                    await all_closed([slow], PATIENCE * body_timeout)
                    assert slow.lifetime >= body_timeout * 0.9
        assert stats.body_timeouts == 2
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # no traceback
        health = instance.url.replace(WebhookBotInstance.PATH, "/healthz")
        async with aiohttp.ClientSession() as http, http.get(health) as response:
            assert response.status == 200
    assert server.calls_for("sendMessage") == []


def test_limits_and_the_connection_cap() -> None:
    with pytest.raises(ValueError):
        ServerLimits(header_timeout=0)
    with pytest.raises(ValueError):
        ServerLimits(max_connections=0)
    limits = ServerLimits(max_connections=512)
    assert serving.connection_cap(limits, None) == 512
    assert serving.connection_cap(limits, 1 << 20) == 512
    # A 1,024 file limit: three servers' shares leave room for the bot's own descriptors.
    share = serving.connection_cap(limits, 1024)
    assert share * serving.SERVERS_PER_PROCESS + serving.RESERVED_FDS <= 1024
    # Only arguments this aiohttp's RequestHandler takes (it would drop them all otherwise).
    assert set(limits.handler_args()) <= {"keepalive_timeout", "max_line_size", "max_field_size"}
    assert limits.handler_args()["keepalive_timeout"] == limits.keepalive_timeout


def test_the_open_files_limit_is_raised_to_the_hard_limit() -> None:
    resource = pytest.importorskip("resource")
    limit = serving.raise_open_file_limit()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert limit == soft
    assert hard == resource.RLIM_INFINITY or soft == hard
