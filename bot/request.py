"""The Bot API request layer on one shared aiohttp session (PTB's `BaseRequest` seam).

PTB's default HTTPXRequest spends most of the bot's CPU time in httpx/httpcore bookkeeping
(about 18 ms per update on this project's 2-core machine, see DESIGN.md); aiohttp does the same
requests for a fraction of that, which is what lets one process serve bursts of supporters.
Parameters go as one JSON body (orjson) rather than PTB's urlencoded form of per-field JSON
strings, and Telegram's answers are parsed with orjson: both are on every call's path. Files
still go as multipart.
"""

from __future__ import annotations

import asyncio
import random
import re
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

from bot.ptb_seam import DefaultValue, JSONDict, ODVInput

if TYPE_CHECKING:
    from bot.metrics import Metrics

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def without_lone_surrogates(value: Any) -> Any:
    """The parsed JSON value with every lone UTF-16 surrogate replaced by U+FFFD."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [without_lone_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {key: without_lone_surrogates(item) for key, item in value.items()}
    return value


class AiohttpRequest(BaseRequest):
    def __init__(
        self,
        *,
        connection_pool_size: int = 256,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        media_write_timeout: float | None = 20.0,
        retries: int = 3,
        backoff: float = 0.25,
    ) -> None:
        self.retries = retries
        self.backoff = backoff
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None
        self.metrics: Metrics | None = None  # set by build_application: calls by status

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    @staticmethod
    def parse_json_payload(payload: bytes) -> JSONDict:
        try:
            return orjson.loads(payload)
        except orjson.JSONDecodeError:
            # Invalid UTF-8 (PTB's parser replaces it, or explains), or a lone surrogate such
            # as "\ud800", which JSON allows and no UTF-8 encoder takes: made U+FFFD, so the
            # update can be stored and answered like any other.
            return without_lone_surrogates(BaseRequest.parse_json_payload(payload))

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._pool_size, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(
                connector=connector, headers={"User-Agent": self.USER_AGENT}
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        has_files = bool(request_data and request_data.contains_files)
        read = self._read_timeout if isinstance(read_timeout, DefaultValue) else read_timeout
        connect = (
            self._connect_timeout if isinstance(connect_timeout, DefaultValue) else connect_timeout
        )
        if isinstance(write_timeout, DefaultValue):
            write_timeout = self._media_write_timeout if has_files else self._write_timeout
        pool = None if isinstance(pool_timeout, DefaultValue) else pool_timeout
        # aiohttp has no separate write timeout: a request may take connect + write + read.
        parts = [value for value in (connect, write_timeout, read) if value is not None]
        total = sum(parts) if len(parts) == 3 else None
        timeout = aiohttp.ClientTimeout(
            total=total, sock_connect=connect, sock_read=read, connect=pool
        )
        # A 5xx answer or a connection that never got through is tried again, with backoff.
        # A timeout after sending is only retried where doing it twice is harmless: a message
        # that reached Telegram but whose answer was lost must not be sent twice.
        repeatable = not _method_of(url).startswith(_CREATES_MESSAGES)
        for attempt in range(self.retries + 1):
            last_try = attempt == self.retries
            try:
                async with self._session.request(
                    method, url, timeout=timeout, **_body(request_data)
                ) as response:
                    status, content = response.status, await response.read()
                if self.metrics is not None:
                    self.metrics.api_calls.labels(_method_of(url), status).inc()
                if status < 500 or last_try or not (repeatable or status in _NEVER_REACHED):
                    return status, content
            except TimeoutError as error:
                if last_try or not repeatable:
                    raise TimedOut from error
            except aiohttp.ClientConnectorError as error:  # nothing was sent
                if last_try:
                    raise NetworkError(f"aiohttp.{error.__class__.__name__}: {error}") from error
            except aiohttp.ClientError as error:
                if last_try or not repeatable:
                    raise NetworkError(f"aiohttp.{error.__class__.__name__}: {error}") from error
            await asyncio.sleep(self.backoff * 2**attempt * random.uniform(0.5, 1.0))
        raise AssertionError("unreachable")


# Bot API methods that create something new each time they are called.
_CREATES_MESSAGES = ("send", "forward", "copy")
# 5xx answers from a proxy or gateway that could not hand the call to the Bot API: safe to
# repeat even a send. A 500 or 504 may come after Telegram delivered the message.
_NEVER_REACHED = frozenset({502, 503})


def _method_of(url: str) -> str:
    """The Bot API method of a call's URL (never the token, which comes before it)."""
    return url.rsplit("/", 1)[-1]


_JSON_HEADERS = {"Content-Type": "application/json"}


def _body(request_data: RequestData | None) -> dict[str, Any]:
    """aiohttp's keyword arguments for the request's body."""
    if request_data is None:
        return {}
    if not request_data.contains_files:
        return {"data": orjson.dumps(request_data.parameters), "headers": _JSON_HEADERS}
    form = aiohttp.FormData()
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, part in request_data.multipart_data.items():
        if isinstance(part, tuple):
            filename, content, mime_type = part
            form.add_field(name, content, filename=filename, content_type=mime_type)
        else:
            form.add_field(name, part)
    return {"data": form}
