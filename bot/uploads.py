"""Sending a large file from disk to a chat without holding it in memory.

PTB's `InputFile` reads the whole file into memory before the request is built; an export of
millions of signatures is tens of megabytes, once per admin asking. Here `sendDocument` is
posted as multipart by aiohttp, which streams the open file from disk in chunks. Telegram's
error answers become the same `telegram.error` exceptions PTB raises, so callers handle both
paths alike.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Any

import aiohttp
from telegram import Bot
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

log = logging.getLogger(__name__)

# Telegram lets bots upload documents of at most 50 MB; keep a margin for the multipart framing.
MAX_UPLOAD_BYTES = 49 * 1000 * 1000
# A large upload on a slow link takes minutes: only connecting and waiting for each answer chunk
# are bounded, not the whole request.
UPLOAD_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=300)
# Flood control on an upload: wait as told, this many times, then give up (nothing was sent).
MAX_FLOOD_RETRIES = 2
MAX_FLOOD_WAIT = 60.0


async def send_document(
    bot: Bot,
    chat_id: int,
    path: Path,
    *,
    file_name: str,
    caption: str | None = None,
    content_type: str = "application/octet-stream",
    session: aiohttp.ClientSession | None = None,
) -> dict[str, Any]:
    """Upload `path` as a document (caption in HTML); return Telegram's Message as a dict.

    Raises the `telegram.error` exception PTB would: `Forbidden` when the chat blocked the bot,
    `BadRequest` for a refused file or caption, `RetryAfter` when flood control persists,
    `TimedOut`/`NetworkError` when the connection fails. A timeout is not retried: the file
    may have arrived, and sending it twice is worse than asking the admin to try again.
    """
    url = f"{bot.base_url}/sendDocument"  # PTB's base_url already ends with the token
    own_session = session is None
    active = session or aiohttp.ClientSession()
    try:
        for attempt in range(MAX_FLOOD_RETRIES + 1):
            try:
                return await _post_once(
                    active, url, chat_id, path, file_name, caption, content_type
                )
            except FloodWait as flood:
                if attempt == MAX_FLOOD_RETRIES or flood.seconds > MAX_FLOOD_WAIT:
                    raise
                log.info("sendDocument hit flood control: retrying in %s s", flood.seconds)
                await asyncio.sleep(flood.seconds)
        raise AssertionError("unreachable")
    finally:
        if own_session:
            await active.close()


class FloodWait(RetryAfter):
    """`RetryAfter` that also keeps the wait as plain seconds (PTB's attribute is deprecated)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(timedelta(seconds=seconds))
        self.seconds = seconds


async def _post_once(
    session: aiohttp.ClientSession,
    url: str,
    chat_id: int,
    path: Path,
    file_name: str,
    caption: str | None,
    content_type: str,
) -> dict[str, Any]:
    with path.open("rb") as document:
        form = aiohttp.FormData()
        form.add_field("chat_id", str(chat_id))
        if caption:
            form.add_field("caption", caption)
            form.add_field("parse_mode", "HTML")
        # A file object is streamed by aiohttp, chunk by chunk, with a known Content-Length.
        form.add_field("document", document, filename=file_name, content_type=content_type)
        try:
            async with session.post(url, data=form, timeout=UPLOAD_TIMEOUT) as response:
                status, body = response.status, await response.read()
        except TimeoutError as error:
            raise TimedOut("Timed out uploading a document") from error
        except aiohttp.ClientError as error:
            raise NetworkError(f"aiohttp.{error.__class__.__name__}: {error}") from error
    return result_of(status, body)


def result_of(status: int, body: bytes) -> dict[str, Any]:
    """The `result` of a Bot API answer, or the exception PTB raises for this answer.

    Mirrors PTB's `BaseRequest._request_wrapper`: the HTTP status picks the exception class,
    Telegram's `description` is its message, and `parameters` can mean a migrated chat or
    flood control.
    """
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        if 200 <= status <= 299:
            raise TelegramError(f"Invalid server response: {body[:200]!r}")
        data = {}
    if 200 <= status <= 299 and data.get("ok"):
        result = data.get("result")
        if not isinstance(result, dict):
            raise TelegramError(f"Invalid server response: {body[:200]!r}")
        return result
    try:
        fallback = f"{HTTPStatus(status).phrase} ({status})"
    except ValueError:
        fallback = f"Unknown HTTPError ({status})"
    message = str(data.get("description") or fallback)
    parameters = data.get("parameters") or {}
    if isinstance(parameters, dict):
        if parameters.get("migrate_to_chat_id"):
            raise ChatMigrated(int(parameters["migrate_to_chat_id"]))
        if parameters.get("retry_after"):
            raise FloodWait(float(parameters["retry_after"]))
    if status == HTTPStatus.FORBIDDEN:
        raise Forbidden(message)
    if status in (HTTPStatus.NOT_FOUND, HTTPStatus.UNAUTHORIZED):
        raise InvalidToken(message)
    if status == HTTPStatus.BAD_REQUEST:
        raise BadRequest(message)
    if status == HTTPStatus.CONFLICT:
        raise Conflict(message)
    raise NetworkError(message)
