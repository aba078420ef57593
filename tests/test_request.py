"""The aiohttp request layer: retries what is safe to retry, and nothing else."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from telegram.error import NetworkError, TimedOut

from bot.request import AiohttpRequest


class StallingServer:
    """Answers after `stall` seconds for the first `stalls` requests, then at once."""

    def __init__(self, stalls: int, status: int = 200, stall: float = 1.0) -> None:
        self.stalls, self.status, self.stall = stalls, status, stall
        self.requests: list[str] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(request.match_info["method"])
        if len(self.requests) <= self.stalls:
            if self.status == 200:
                await asyncio.sleep(self.stall)
            else:
                return web.json_response({"ok": False}, status=self.status)
        return web.json_response({"ok": True, "result": True})


ServerFactory = Callable[[StallingServer], Awaitable[str]]


@pytest.fixture
async def make_server() -> AsyncIterator[ServerFactory]:
    runners: list[web.AppRunner] = []

    async def start(server: StallingServer) -> str:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", server.handle)
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{port}/bot1:x"

    yield start
    for runner in runners:
        await runner.cleanup()


async def new_request() -> AiohttpRequest:
    request = AiohttpRequest(read_timeout=0.2, retries=2, backoff=0.01)
    await request.initialize()
    return request


async def test_timed_out_edits_are_retried(make_server: ServerFactory) -> None:
    server = StallingServer(stalls=1)
    base = await make_server(server)
    request = await new_request()
    try:
        status, _ = await request.do_request(f"{base}/editMessageText", "POST")
    finally:
        await request.shutdown()
    assert status == 200 and server.requests == ["editMessageText"] * 2


async def test_a_timed_out_send_is_not_sent_twice(make_server: ServerFactory) -> None:
    server = StallingServer(stalls=1)
    base = await make_server(server)
    request = await new_request()
    try:
        with pytest.raises(TimedOut):
            await request.do_request(f"{base}/sendMessage", "POST")
    finally:
        await request.shutdown()
    assert server.requests == ["sendMessage"]


async def test_server_errors_are_retried_then_reported(make_server: ServerFactory) -> None:
    server = StallingServer(stalls=5, status=503)
    base = await make_server(server)
    request = await new_request()
    try:
        status, _ = await request.do_request(f"{base}/sendMessage", "POST")
    finally:
        await request.shutdown()
    assert status == 503 and len(server.requests) == 3  # first try + 2 retries


async def test_unreachable_api_is_a_network_error() -> None:
    request = AiohttpRequest(retries=1, backoff=0.01, connect_timeout=0.5)
    await request.initialize()
    try:
        with pytest.raises(NetworkError):
            await request.do_request("http://127.0.0.1:9/bot1:x/getMe", "POST")
    finally:
        await request.shutdown()
