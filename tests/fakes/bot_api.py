"""An in-process fake of the Telegram Bot API, for end-to-end tests and benchmarks.

Modelled on aiohttp's ``examples/fake_server.py``: one class owns a ``web.Application`` whose
routes are its methods. The real bot talks to it over HTTP exactly as it would talk to
api.telegram.org (``base_url=f"{server.url}/bot"``), so everything between the handlers and the
socket - PTB's encoding, error mapping, retries, rate limiting - is exercised too.

The fake is deliberately a little *stricter* than Telegram where that catches real bugs: a bare
``&`` or an unsupported named entity in HTML text is rejected (Telegram passes it through
silently, which hides a missing ``html.escape``).

Tests drive it through :class:`FakeUser`, which reads like a conversation::

    alice = server.user(42, "Alice")
    reply = await alice.send("/start")
    await alice.press("Sign")
    assert alice.last == "Thank you for signing!"

All waiting is event-driven: every state change (a recorded call, a pushed or delivered
update) wakes the waiters, which re-check their condition. Nothing sleep-polls.

Updates reach the bot by ``getUpdates`` long polling or, after ``setWebhook``, by POSTs to the
webhook as Telegram makes them: retried with backoff until answered 2xx, one update of a chat
at a time, different chats concurrently up to ``max_connections``. For load-balancer tests,
:attr:`FakeBotAPI.webhook_targets` spreads the POSTs round-robin over several bot instances
and :attr:`FakeBotAPI.duplicate_delivery_every` posts every k-th update twice.
"""

# The waiting helpers take `timeout=` on purpose: tests read better as
# `await alice.send("/start", timeout=1)` than wrapped in `asyncio.timeout` blocks.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import bisect
import copy
import hashlib
import itertools
import json
import logging
import re
import struct
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl

import aiohttp
from aiohttp import web

from tests.bidi import unisolated

__all__ = [
    "BOT_FIRST_NAME",
    "DEFAULT_TOKEN",
    "ApiError",
    "Call",
    "ChatState",
    "EntityParseError",
    "FakeBotAPI",
    "FakeUser",
    "ReceivedFile",
    "StoredMessage",
    "UploadedFile",
    "WebhookDelivery",
    "html_to_text",
    "utf16_length",
]

JSONDict = dict[str, Any]

DEFAULT_TOKEN = "123456:TEST-TOKEN"
BOT_FIRST_NAME = "Petition Test Bot"

# Limits documented at https://core.telegram.org/bots/api
MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_CALLBACK_ANSWER_LENGTH = 200
MAX_INLINE_BUTTONS = 100
MAX_UPLOAD_BYTES = 50 * 1024 * 1024

_log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


class ApiError(Exception):
    """A Bot API error answer: ``{"ok": false, "error_code": status, "description": ...}``."""

    def __init__(self, status: int, description: str, parameters: JSONDict | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def payload(self) -> JSONDict:
        body: JSONDict = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _bad_request(detail: str) -> ApiError:
    return ApiError(400, f"Bad Request: {detail}")


@dataclass(frozen=True)
class UploadedFile:
    """A multipart file part, as received (``params["document"]`` of a sendDocument call)."""

    filename: str | None
    content_type: str | None
    data: bytes

    def __repr__(self) -> str:  # keep call dumps readable: never print the bytes
        return f"UploadedFile({self.filename!r}, {len(self.data)} bytes)"


@dataclass(frozen=True)
class Call:
    """One answered Bot API request.

    ``params`` are decoded (JSON-encoded form values parsed, ids as ints, files as
    :class:`UploadedFile`); ``at`` is ``time.monotonic()`` when the answer was produced;
    ``response`` is the exact JSON body that was sent back. ``via_webhook_response`` marks a
    method the bot called by returning it in its answer to a webhook POST (no HTTP request of
    its own, and nobody saw ``response``).
    """

    method: str
    params: JSONDict
    at: float
    response: JSONDict
    via_webhook_response: bool = False

    @property
    def ok(self) -> bool:
        return bool(self.response.get("ok"))

    @property
    def result(self) -> Any:
        return self.response.get("result")

    def describe(self) -> str:
        shown = ", ".join(f"{key}={_shorten(value)}" for key, value in self.params.items())
        if not self.ok:
            outcome = str(self.response.get("description"))
        elif self.method == "getUpdates":
            outcome = f"update_ids {[update['update_id'] for update in self.result]}"
        else:
            outcome = "ok"
        via = " [in a webhook response]" if self.via_webhook_response else ""
        return f"{self.method}({shown}){via} -> {outcome}"


@dataclass(frozen=True)
class WebhookDelivery:
    """One POST of an update to a webhook, as it ended.

    ``status`` is the HTTP status of the answer (None if there was none: connection error or
    timeout); ``error`` is what getWebhookInfo would report, None for a 2xx answer;
    ``duplicate`` marks the extra POST of :attr:`FakeBotAPI.duplicate_delivery_every`.
    """

    update_id: int
    url: str
    status: int | None
    error: str | None
    duplicate: bool
    at: float

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class StoredMessage:
    """A message in a chat's history, with what the fake knows beyond the Message object."""

    message: JSONDict  # the Telegram Message object, as last returned to the bot
    from_bot: bool
    raw_text: str | None = None  # text/caption exactly as the bot sent it (e.g. with HTML tags)
    parse_mode: str | None = None
    edit_count: int = 0
    file_id: str | None = None
    file_bytes: bytes | None = None
    touched: int = 0  # global order of the last send/edit; "most recent" means highest

    @property
    def message_id(self) -> int:
        return int(self.message["message_id"])

    @property
    def text(self) -> str | None:
        """Visible text or caption."""
        return self.message.get("text", self.message.get("caption"))

    @property
    def inline_keyboard(self) -> list[list[JSONDict]]:
        markup = self.message.get("reply_markup") or {}
        return list(markup.get("inline_keyboard") or [])


@dataclass
class ChatState:
    chat: JSONDict
    next_message_id: int = 1  # shared by both sides of the chat, like Telegram
    messages: dict[int, StoredMessage] = field(default_factory=dict)

    def allocate_message_id(self) -> int:
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id


@dataclass(frozen=True)
class ReceivedFile:
    """A document or photo the bot sent to a user."""

    file_id: str
    file_name: str | None
    data: bytes
    caption: str | None
    message: JSONDict


@dataclass
class _CallbackQueryState:
    user_id: int | None
    answer: JSONDict | None = None


@dataclass
class _Fault:
    method: str  # lower-cased
    chat_id: int | str | None
    remaining: int
    error: ApiError


class _ChangeNotifier:
    """Wakes every waiter whenever the server's state changes.

    An Event that is replaced on every notification, rather than an asyncio.Condition, so that
    synchronous code (``push_update``) can notify without taking a lock. Waiters re-check their
    predicate after each wake-up, so there is no lost-wake-up race: the predicate check and the
    read of the current event happen in the same synchronous step.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float | None) -> None:
        """Return once ``predicate()`` is true; raise ``TimeoutError`` after ``timeout`` s."""
        async with asyncio.timeout(timeout):
            while not predicate():
                await self._event.wait()


# --------------------------------------------------------------------------------------------
# Text: Telegram's HTML subset, and lengths in UTF-16 code units
# --------------------------------------------------------------------------------------------


class EntityParseError(ValueError):
    """The text is not valid Telegram HTML; the message follows Telegram's wording."""


_ALLOWED_TAGS = frozenset(
    {
        "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
        "span", "tg-spoiler", "blockquote", "tg-emoji",
    }
)  # fmt: skip
# Telegram supports all numeric entities but only these named ones.
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY_RE = re.compile(r"&(?:#([0-9]{1,8})|#[xX]([0-9a-fA-F]{1,8})|([a-zA-Z][a-zA-Z0-9]*));")


def utf16_length(text: str) -> int:
    """Length as Telegram counts it: in UTF-16 code units (an emoji like 😀 counts 2)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _byte_offset(text: str, index: int) -> int:
    # Telegram reports positions as UTF-8 byte offsets.
    return len(text[:index].encode("utf-8", "surrogatepass"))


def _decode_entity(text: str, index: int, *, strict: bool) -> tuple[str, int]:
    """Decode the entity starting at ``text[index] == "&"``; return (characters, next index)."""
    match = _ENTITY_RE.match(text, index)
    decoded: str | None = None
    if match:
        decimal, hexadecimal, name = match.groups()
        if name is not None:
            decoded = _NAMED_ENTITIES.get(name)
        else:
            code_point = int(decimal) if decimal is not None else int(hexadecimal, 16)
            if 0 < code_point <= 0x10FFFF and not 0xD800 <= code_point <= 0xDFFF:
                decoded = chr(code_point)
    if decoded is not None and match is not None:
        return decoded, match.end()
    if strict:
        raise EntityParseError(
            f"Character '&' at byte offset {_byte_offset(text, index)} must be escaped as "
            "&amp; (only &lt; &gt; &amp; &quot; and numeric entities are supported)"
        )
    return "&", index + 1


def _unclosed(text: str, begin: int) -> EntityParseError:
    return EntityParseError(f"Unclosed start tag at byte offset {_byte_offset(text, begin)}")


def _parse_attributes(text: str, index: int, tag: str, begin: int) -> tuple[dict[str, str], int]:
    """Parse ``attr="v" attr2='v' attr3=v flag>`` from ``index``; return (attrs, after ``>``)."""
    attributes: dict[str, str] = {}
    size = len(text)
    while True:
        while index < size and text[index].isspace():
            index += 1
        if index >= size:
            raise _unclosed(text, begin)
        if text[index] == ">":
            return attributes, index + 1
        name_end = index
        while name_end < size and not text[name_end].isspace() and text[name_end] not in "=>":
            name_end += 1
        name = text[index:name_end].lower()
        if not name:
            raise EntityParseError(
                f'Empty attribute name in the tag "{tag}" at byte offset '
                f"{_byte_offset(text, begin)}"
            )
        index = name_end
        while index < size and text[index].isspace():
            index += 1
        if index >= size:
            raise _unclosed(text, begin)
        if text[index] != "=":
            if tag == "blockquote" and name == "expandable":
                attributes[name] = ""
                continue
            raise EntityParseError(
                f'Expected equal sign in declaration of an attribute of the tag "{tag}" '
                f"at byte offset {_byte_offset(text, begin)}"
            )
        index += 1
        while index < size and text[index].isspace():
            index += 1
        if index >= size:
            raise _unclosed(text, begin)
        quote = text[index]
        if quote in "\"'":
            value_end = text.find(quote, index + 1)
            if value_end == -1:
                raise _unclosed(text, begin)
            raw_value = text[index + 1 : value_end]
            index = value_end + 1
        else:
            value_end = index
            while value_end < size and not text[value_end].isspace() and text[value_end] != ">":
                value_end += 1
            raw_value = text[index:value_end]
            index = value_end
        # Attribute values (URLs) get Telegram's own leniency: "?a=1&b=2" is accepted.
        attributes[name] = _decode_entities(raw_value, strict=False)


def _decode_entities(text: str, *, strict: bool) -> str:
    parts: list[str] = []
    index = 0
    while index < len(text):
        if text[index] == "&":
            decoded, index = _decode_entity(text, index, strict=strict)
            parts.append(decoded)
        else:
            parts.append(text[index])
            index += 1
    return "".join(parts)


def _check_tag(tag: str, attributes: Mapping[str, str]) -> None:
    if tag == "span" and attributes.get("class") != "tg-spoiler":
        raise EntityParseError('Tag "span" must have class "tg-spoiler"')
    if tag == "tg-emoji" and not attributes.get("emoji-id"):
        raise EntityParseError('Tag "tg-emoji" must have attribute "emoji-id"')


def html_to_text(html: str) -> str:
    """Validate Telegram-flavoured HTML and return the text a person would see.

    Follows tdlib's parser (``parse_html`` in MessageEntity.cpp): only Telegram's tags, tags
    must nest properly, every tag must be closed. Raises :class:`EntityParseError`.
    """
    visible: list[str] = []
    open_tags: list[str] = []
    index, size = 0, len(html)
    while index < size:
        char = html[index]
        if char == "&":
            decoded, index = _decode_entity(html, index, strict=True)
            visible.append(decoded)
            continue
        if char != "<":
            visible.append(char)
            index += 1
            continue
        begin = index
        index += 1
        if index < size and html[index] == "/":
            close = html.find(">", index)
            if close == -1:
                raise EntityParseError(
                    f"Unclosed end tag at byte offset {_byte_offset(html, begin)}"
                )
            name = html[index + 1 : close].strip().lower()
            if not open_tags:
                raise EntityParseError(
                    f"Unexpected end tag at byte offset {_byte_offset(html, begin)}"
                )
            expected = open_tags.pop()
            if name != expected:
                raise EntityParseError(
                    f"Unmatched end tag at byte offset {_byte_offset(html, begin)}, "
                    f'expected "</{expected}>", found "</{name}>"'
                )
            index = close + 1
            continue
        name_end = index
        while name_end < size and not html[name_end].isspace() and html[name_end] != ">":
            name_end += 1
        if name_end >= size:
            raise _unclosed(html, begin)
        tag = html[index:name_end].lower()
        if tag not in _ALLOWED_TAGS:
            raise EntityParseError(
                f'Unsupported start tag "{tag}" at byte offset {_byte_offset(html, begin)}'
            )
        attributes, index = _parse_attributes(html, name_end, tag, begin)
        _check_tag(tag, attributes)
        open_tags.append(tag)
    if open_tags:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{open_tags[-1]}"')
    return "".join(visible)


def _render(raw: object, parse_mode: object) -> str:
    """Visible text of a text/caption parameter, validated for its parse_mode."""
    text = "" if raw is None else str(raw)
    mode = parse_mode.lower() if isinstance(parse_mode, str) else ""
    if mode == "html":
        try:
            text = html_to_text(text)
        except EntityParseError as err:
            raise _bad_request(f"can't parse entities: {err}") from None
    elif mode not in ("", "markdown", "markdownv2"):
        raise _bad_request("unsupported parse_mode")
    # Markdown is accepted but not rendered: its visible text is the raw text.
    # Telegram trims surrounding whitespace from texts and captions.
    return text.strip()


# --------------------------------------------------------------------------------------------
# Request parameters
# --------------------------------------------------------------------------------------------

# PTB's HTTPXRequest sends every parameter as a form field: strings as-is, everything else
# json.dumps-ed ("123", "true", '{"inline_keyboard": ...}'). Which fields to decode how is
# therefore decided by name; free-text fields are never decoded, so a message whose text
# happens to be "[1]" or "true" stays a string.
_TEXT_FIELDS = frozenset(
    {
        "text", "caption", "description", "short_description", "name", "callback_query_id",
        "inline_query_id", "url", "parse_mode", "language_code", "next_offset", "action",
        "inline_message_id", "secret_token", "ip_address", "switch_pm_text",
        "switch_pm_parameter", "document", "photo", "thumbnail", "filename", "query",
    }
)  # fmt: skip
_JSON_FIELDS = frozenset(
    {
        "reply_markup", "entities", "caption_entities", "allowed_updates", "commands",
        "scope", "link_preview_options", "reply_parameters", "results", "menu_button",
        "button", "media", "options", "permissions", "reaction", "prices",
    }
)  # fmt: skip
_INT_FIELDS = frozenset(
    {
        "chat_id", "from_chat_id", "message_id", "offset", "limit", "user_id", "cache_time",
        "message_thread_id", "reply_to_message_id", "max_connections", "duration", "width",
        "height",
    }
)  # fmt: skip
_FLOAT_FIELDS = frozenset({"timeout"})  # PTB sends timedelta timeouts as fractional seconds
_BOOL_FIELDS = frozenset(
    {
        "show_alert", "is_personal", "disable_notification", "protect_content",
        "drop_pending_updates", "disable_web_page_preview", "allow_sending_without_reply",
        "has_spoiler", "disable_content_type_detection", "show_caption_above_media",
        "allow_paid_broadcast", "is_big",
    }
)  # fmt: skip
_INT_RE = re.compile(r"-?[0-9]+")


def _decode_value(key: str, value: object) -> object:
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("utf-8", "replace")
    if not isinstance(value, str) or key in _TEXT_FIELDS:
        return value  # already typed (JSON body), a file, or free text
    if key in _JSON_FIELDS:
        try:
            return json.loads(value)
        except ValueError:
            raise _bad_request(f"can't parse {key} JSON object") from None
    if key in _INT_FIELDS:
        # chat_id may legitimately be "@channelusername"; leave non-numbers alone.
        return int(value) if _INT_RE.fullmatch(value.strip()) else value
    if key in _FLOAT_FIELDS:
        try:
            return float(value)
        except ValueError:
            raise _bad_request(f"invalid {key} specified") from None
    if key in _BOOL_FIELDS:
        return value.strip().lower() in ("true", "1")
    # Unknown field: decode what clearly is JSON, keep the rest as sent.
    if value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    if value in ("true", "false"):
        return value == "true"
    return value


async def _read_params(request: web.Request) -> JSONDict:
    """Query string plus JSON, urlencoded or multipart body, decoded (see ``_decode_value``)."""
    raw: dict[str, object] = dict(request.query)
    if request.method == "POST" and request.can_read_body:
        content_type = request.content_type
        if content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise _bad_request("can't parse JSON request body") from None
            if not isinstance(body, dict):
                raise _bad_request("request body must be a JSON object")
            raw.update(body)
        elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    raw[key] = UploadedFile(value.filename, value.content_type, value.file.read())
                else:
                    raw[key] = value
    return {key: _decode_value(key, value) for key, value in raw.items()}


def _shorten(value: object, limit: int = 80) -> str:
    if isinstance(value, str | UploadedFile):
        text = repr(value)
    else:
        text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------------

_BUTTON_ACTIONS = (
    "url", "callback_data", "web_app", "login_url", "switch_inline_query",
    "switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "copy_text",
    "callback_game", "pay",
)  # fmt: skip
_BUTTON_URL_RE = re.compile(r"(?:https?|tg)://\S+", re.IGNORECASE)
_WEB_APP_URL_RE = re.compile(r"https://\S+", re.IGNORECASE)
_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
_BOT_COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![A-Za-z0-9_@])")


def _check_text_length(visible: str) -> None:
    if not visible:
        raise _bad_request("message text is empty")
    if utf16_length(visible) > MAX_TEXT_LENGTH:
        raise _bad_request("message is too long")


def _check_caption_length(visible: str) -> None:
    if utf16_length(visible) > MAX_CAPTION_LENGTH:
        raise _bad_request("message caption is too long")


def _inline_keyboard(markup: object) -> JSONDict | None:
    """Validate a reply_markup; return it if it is an inline keyboard (the only kind echoed)."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise _bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" not in markup:
        return None  # reply keyboards, ReplyKeyboardRemove, ForceReply: accepted, not echoed
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise _bad_request(
            'can\'t parse inline keyboard button: field "inline_keyboard" of the '
            "InlineKeyboardMarkup must be an Array of Arrays"
        )
    buttons = [button for row in rows for button in row]
    if len(buttons) > MAX_INLINE_BUTTONS:
        raise _bad_request("reply markup is too long")
    for button in buttons:
        if not isinstance(button, dict):
            raise _bad_request(
                "can't parse inline keyboard button: InlineKeyboardButton must be an Object"
            )
        text = button.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _bad_request("text buttons are unallowed in the inline keyboard")
        if not any(action in button for action in _BUTTON_ACTIONS):
            raise _bad_request("text buttons are unallowed in the inline keyboard")
        if "callback_data" in button:
            data = button["callback_data"]
            if not isinstance(data, str) or not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA_BYTES:
                raise _bad_request("BUTTON_DATA_INVALID")
        if "url" in button and not (
            isinstance(button["url"], str) and _BUTTON_URL_RE.fullmatch(button["url"])
        ):
            raise _bad_request("BUTTON_URL_INVALID")
        if "web_app" in button:
            _check_web_app(button["web_app"])
    return markup if buttons else None


def _check_web_app(web_app: object) -> None:
    """A WebAppInfo: Telegram opens Mini Apps over HTTPS only."""
    url = web_app.get("url") if isinstance(web_app, dict) else None
    if not isinstance(url, str) or not _WEB_APP_URL_RE.fullmatch(url):
        raise _bad_request("BUTTON_URL_INVALID")


def _image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG/GIF/JPEG, or None if the bytes are not a recognised image."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    if data.startswith(b"\xff\xd8"):
        index = 2
        while index + 9 <= len(data) and data[index] == 0xFF:
            marker = data[index + 1]
            (length,) = struct.unpack(">H", data[index + 2 : index + 4])
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                height, width = struct.unpack(">HH", data[index + 5 : index + 9])
                return int(width), int(height)
            index += 2 + length
        return (1, 1)  # a JPEG we could not measure; good enough for a fake
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return (1, 1)
    return None


def _scope_key(scope: object) -> str:
    """Key of a BotCommandScope in :attr:`FakeBotAPI.commands`.

    "default", "all_private_chats", "chat:<id>", "chat_member:<chat>:<user>", ...
    """
    if not isinstance(scope, dict):
        return "default"
    parts = [str(scope.get("type", "default"))]
    parts += [str(scope[key]) for key in ("chat_id", "user_id") if key in scope]
    return ":".join(parts)


def _update_type(update: Mapping[str, Any]) -> str:
    return next((key for key in update if key != "update_id"), "")


def _delivery_key(update: Mapping[str, Any]) -> object:
    """What webhook deliveries are serialised by: the update's chat, else its sender (whose
    private chat has the same id), else nothing - the update itself."""
    body = update.get(_update_type(update))
    if isinstance(body, dict):
        for holder in (body, body.get("message")):
            if isinstance(holder, dict) and isinstance(holder.get("chat"), dict):
                chat_id = holder["chat"].get("id")
                if chat_id is not None:
                    return chat_id
        for key in ("from", "user", "voter_chat"):
            sender = body.get(key)
            if isinstance(sender, dict) and sender.get("id") is not None:
                return sender["id"]
    return ("update", update.get("update_id"))


# Telegram's default when allowed_updates was never set (or set to []).
_DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_MESSAGE_UPDATE_KEYS = (
    "message", "edited_message", "channel_post", "edited_channel_post", "business_message",
    "edited_business_message",
)  # fmt: skip
_VISIBLE_REPLY_METHODS = frozenset(
    {"sendMessage", "editMessageText", "sendDocument", "sendPhoto", "editMessageReplyMarkup"}
)
_SECRET_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
_WEBHOOK_SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Methods that fail with 403 in a chat whose user blocked the bot.
_CHAT_WRITE_PREFIXES = ("send", "edit", "copy", "forward")
_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    500: "Internal Server Error",
    502: "Bad Gateway",
}

Handler = Callable[[JSONDict], Awaitable[Any]]


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------


class FakeBotAPI:
    """A Telegram Bot API server on 127.0.0.1 (an ephemeral port), holding all state in memory.

    Use ``async with FakeBotAPI() as server:`` or ``await server.start()`` / ``stop()``. Point
    the bot at ``f"{server.url}/bot"``. Every request is appended to :attr:`calls`.
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        bot_username: str = "petition_test_bot",
        bot_id: int = 123456,
        latency: float = 0.0,
        *,
        webhook_retry_delay: float = 0.05,
        webhook_retry_max_delay: float = 1.0,
        webhook_timeout: float = 10.0,
    ) -> None:
        self.token = token
        self.bot_username = bot_username
        self.bot_id = bot_id
        self.latency = latency  # seconds before answering any method but getUpdates
        self.url = ""  # set by start()

        self.calls: list[Call] = []
        # Calls are also numbered, so that waiters keep their place across clear_calls(), and
        # visible replies are indexed by chat: with many users waiting at once (benchmarks),
        # re-checking a wait must not rescan every call ever made.
        self._call_seq = 0
        self._replies: dict[int, list[tuple[int, JSONDict]]] = {}
        self.chats: dict[int, ChatState] = {}
        self.files: dict[str, bytes] = {}
        self.file_names: dict[str, str | None] = {}
        self.commands: dict[tuple[str, str], list[JSONDict]] = {}  # (scope key, language)
        self.descriptions: dict[str, str] = {}  # language code ("" = default) -> text
        self.short_descriptions: dict[str, str] = {}
        self.names: dict[str, str] = {}
        self.menu_buttons: dict[int | None, JSONDict] = {}  # chat id (None = default)
        self.inline_answers: dict[str, JSONDict] = {}  # inline query id -> params
        self.blocked: set[int] = set()

        # Webhook mode: on while webhook_url is set (by setWebhook).
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        self.webhook_max_connections = 40
        # Load balancer: when set, POSTs go round-robin to these instead of webhook_url.
        self.webhook_targets: list[str] | None = None
        # When k: the k-th, 2k-th, ... update the webhook delivers (counted from the start)
        # is also posted, at the same time and on every attempt, to the target after the one
        # chosen: a redelivery the bot must survive. Either 2xx answer delivers it.
        self.duplicate_delivery_every: int | None = None
        # A failed POST is retried after webhook_retry_delay s, doubling to the max delay.
        self.webhook_retry_delay = webhook_retry_delay
        self.webhook_retry_max_delay = webhook_retry_max_delay
        self.webhook_timeout = webhook_timeout  # s to wait for the webhook's answer
        self.webhook_last_error_message: str | None = None
        self.webhook_last_error_date: int | None = None  # unix time
        self.webhook_deliveries: list[WebhookDelivery] = []  # every POST, as it ended

        self._users: dict[int, FakeUser] = {}
        self._updates: list[JSONDict] = []  # pushed and not yet confirmed by an offset
        self._next_update_id = 1
        self._delivered: set[int] = set()
        self._confirmed_below = 0  # every update_id below this was confirmed
        self._allowed_updates: frozenset[str] | None = None
        self._poll_generation = 0
        self._active_polls = 0
        self._callback_queries: dict[str, _CallbackQueryState] = {}
        self._last_answers: dict[int, JSONDict] = {}  # user id -> answerCallbackQuery params
        self._inline_queries: dict[str, int | None] = {}  # inline query id -> user id
        self._faults: list[_Fault] = []
        self._ids = itertools.count(1)
        self._touches = itertools.count(1)
        self._notifier = _ChangeNotifier()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._session: aiohttp.ClientSession | None = None
        # update_id -> (delivery key, task) of updates being delivered by webhook (one POST
        # after another until one is answered 2xx, with backoff sleeps in between).
        self._webhook_inflight: dict[int, tuple[object, asyncio.Task[None]]] = {}
        self._webhook_posts: set[asyncio.Task[bool]] = set()  # POSTs not answered yet
        self._webhook_dispatch_scheduled = False
        self._webhook_ordinal = itertools.count(1)
        self._webhook_round_robin = itertools.count()

        self.app = web.Application(client_max_size=MAX_UPLOAD_BYTES + 1024 * 1024)
        self.app.router.add_get("/bot{token}/{method}", self._handle)
        self.app.router.add_post("/bot{token}/{method}", self._handle)

        handlers: dict[str, Handler] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "getMyCommands": self._get_my_commands,
            "setMyDescription": self._set_my_description,
            "setMyShortDescription": self._set_my_short_description,
            "getMyDescription": self._get_my_description,
            "getMyShortDescription": self._get_my_short_description,
            "setMyName": self._set_my_name,
            "setChatMenuButton": self._set_chat_menu_button,
            "getChatMenuButton": self._get_chat_menu_button,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "answerCallbackQuery": self._answer_callback_query,
            "sendDocument": self._send_document,
            "sendPhoto": self._send_photo,
            "answerInlineQuery": self._answer_inline_query,
            "getChat": self._get_chat,
            "deleteMessage": self._delete_message,
            "sendChatAction": self._send_chat_action,
        }
        # Telegram matches method names case-insensitively.
        self._methods = {name.lower(): (name, handler) for name, handler in handlers.items()}

    # ---- lifecycle ----------------------------------------------------------------------

    async def start(self) -> str:
        """Listen on 127.0.0.1 on a port chosen by the OS; return and set :attr:`url`."""
        if self._runner is not None:
            raise RuntimeError("FakeBotAPI is already running")
        self._closing = False
        self._loop = asyncio.get_running_loop()
        # A short shutdown_timeout: stop() must not hang on a connection a client abandoned.
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)  # port 0: no race for a "free" port
        await site.start()
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self.url

    async def stop(self) -> None:
        # Long polls return [] at once instead of holding up the shutdown.
        self._closing = True
        self._notifier.notify()
        webhook_tasks = [task for _, task in self._webhook_inflight.values()]
        webhook_tasks += self._webhook_posts
        for task in webhook_tasks:
            task.cancel()
        await asyncio.gather(*webhook_tasks, return_exceptions=True)
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    # ---- test-facing API ----------------------------------------------------------------

    @property
    def bot_user(self) -> JSONDict:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": BOT_FIRST_NAME,
            "username": self.bot_username,
        }

    def user(
        self,
        user_id: int,
        first_name: str = "Alice",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
    ) -> FakeUser:
        """The fake person with this id (created on first use; later arguments are ignored)."""
        if user_id not in self._users:
            self._users[user_id] = FakeUser(
                self, user_id, first_name, last_name, username, language_code
            )
        return self._users[user_id]

    def calls_for(self, method: str) -> list[Call]:
        wanted = method.lower()
        return [call for call in self.calls if call.method.lower() == wanted]

    def clear_calls(self) -> None:
        self.calls.clear()

    def describe_calls(self, last: int = 8, *, empty_polls: bool = False) -> str:
        """The last calls, one per line, for assertion messages.

        getUpdates calls that returned nothing are left out unless ``empty_polls``: they are
        most of the traffic and say nothing about what the bot did.
        """
        shown = [
            call
            for call in self.calls
            if empty_polls or not (call.method == "getUpdates" and call.ok and not call.result)
        ]
        recent = shown[-last:] if last else shown
        return "\n".join(f"  {call.describe()}" for call in recent) or "  (no calls)"

    def replies_to(self, chat_id: int) -> list[str]:
        """Visible text (or caption) of every visible reply - successful sendMessage,
        editMessageText, sendDocument, sendPhoto, editMessageReplyMarkup - to the chat, in
        the order the bot made them, since the server started."""
        return [
            str(message.get("text", message.get("caption", "")))
            for message in self._visible_replies(chat_id, 0)
        ]

    def chat_history(self, chat_id: int) -> list[StoredMessage]:
        """Messages of both sides still in the chat, by message_id."""
        state = self.chats.get(chat_id)
        return [] if state is None else [state.messages[key] for key in sorted(state.messages)]

    def register_chat(self, chat: JSONDict) -> ChatState:
        """Make a chat (e.g. a group) known, as if an update from it had been received."""
        state = self.chats.get(int(chat["id"]))
        if state is None:
            state = self.chats[int(chat["id"])] = ChatState(chat=copy.deepcopy(chat))
        return state

    def fail_next(
        self,
        method: str,
        *,
        status: int = 500,
        description: str | None = None,
        retry_after: int | None = None,
        chat_id: int | str | None = None,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` calls of ``method`` (optionally: to ``chat_id``) fail.

        A failed call has no effect. ``description`` defaults to Telegram's wording for the
        status; 429 answers carry ``parameters.retry_after`` (default 1 s) and
        "Too Many Requests: retry after N".
        """
        if status == 429 and retry_after is None:
            retry_after = 1
        if description is None:
            description = (
                f"Too Many Requests: retry after {retry_after}"
                if status == 429
                else _DEFAULT_DESCRIPTIONS.get(status, "Internal Server Error")
            )
        parameters = {"retry_after": retry_after} if retry_after is not None else None
        error = ApiError(status, description, parameters)
        self._faults.append(_Fault(method.lower(), chat_id, times, error))

    def block(self, user_id: int) -> None:
        """The user blocks the bot: sending or editing in their chat fails with 403."""
        self.blocked.add(user_id)

    def unblock(self, user_id: int) -> None:
        self.blocked.discard(user_id)

    def push_update(self, update: Mapping[str, Any]) -> int:
        """Queue an update (its ``update_id`` is assigned here) and wake long polls, or
        deliver it to the webhook if one is set."""
        update_id = self._next_update_id
        self._next_update_id += 1
        body = {key: copy.deepcopy(value) for key, value in update.items() if key != "update_id"}
        full = {"update_id": update_id, **body}
        self._register_update(full)
        self._updates.append(full)
        self._notifier.notify()
        self._schedule_webhook_dispatch()
        return update_id

    @property
    def pending_updates(self) -> int:
        """Updates not yet confirmed by a getUpdates offset (fetched or not), or in webhook
        mode not yet answered 2xx by the webhook."""
        return len(self._updates)

    @property
    def webhook_info(self) -> JSONDict:
        """What getWebhookInfo answers now."""
        info: JSONDict = {
            "url": self.webhook_url or "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook_url:
            info["max_connections"] = self.webhook_max_connections
            if self._allowed_updates is not None:
                info["allowed_updates"] = sorted(self._allowed_updates)
        if self.webhook_last_error_date is not None:
            info["last_error_date"] = self.webhook_last_error_date
            info["last_error_message"] = self.webhook_last_error_message
        return info

    @property
    def active_polls(self) -> int:
        """getUpdates requests currently waiting for an update."""
        return self._active_polls

    async def wait_delivered(self, update_id: int, timeout: float = 5.0) -> None:
        """Wait until a getUpdates answer contained ``update_id`` (or an offset confirmed it),
        or the webhook answered its POST with a 2xx status."""
        try:
            await self._notifier.wait_for(lambda: self._is_delivered(update_id), timeout)
        except TimeoutError:
            raise TimeoutError(
                f"update {update_id} was not fetched by the bot within {timeout}s "
                f"({self.pending_updates} pending). Last calls:\n{self.describe_calls()}"
            ) from None

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait until ``predicate()`` holds; it is re-checked after every server state change
        (call answered, update pushed/delivered). Raises ``TimeoutError``."""
        await self._notifier.wait_for(predicate, timeout)

    async def wait_idle(self, timeout: float = 5.0) -> None:
        """Wait until no update is pending (see :attr:`pending_updates`) and no webhook POST
        is in flight - duplicates included, and methods returned in webhook answers have been
        executed. Raises ``TimeoutError``."""

        def idle() -> bool:
            return not self._updates and not self._webhook_inflight and not self._webhook_posts

        try:
            await self._notifier.wait_for(idle, timeout)
        except TimeoutError:
            raise TimeoutError(
                f"not idle within {timeout}s: {self.pending_updates} updates pending, "
                f"{len(self._webhook_posts)} webhook POSTs in flight"
                f"{self._webhook_problem()}. Last calls:\n{self.describe_calls()}"
            ) from None

    # ---- HTTP plumbing ------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        call, status = await self._call(
            request.match_info["method"],
            lambda: _read_params(request),
            token=request.match_info["token"],
        )
        return web.json_response(call.response, status=status)

    async def _call(
        self,
        method: str,
        read_params: Callable[[], Awaitable[JSONDict]],
        *,
        token: str | None = None,
        via_webhook_response: bool = False,
    ) -> tuple[Call, int]:
        """Answer one method call (checking ``token`` unless None) and record it."""
        params: JSONDict = {}
        try:
            if token is not None and token != self.token:
                raise ApiError(401, "Unauthorized")
            entry = self._methods.get(method.lower())
            if entry is None:
                # PTB turns a 404 into InvalidToken("Not Found"), which hides the real cause.
                _log.warning("FakeBotAPI does not implement %r: answering 404", method)
                raise ApiError(404, "Not Found")
            method, handler = entry
            params = await read_params()
            # getUpdates is exempt: it already waits, and delaying it would delay the bot
            # seeing updates rather than simulate a slow network answer. So is a method that
            # rode back on a webhook's answer: it made no trip of its own.
            if self.latency > 0 and method != "getUpdates" and not via_webhook_response:
                await asyncio.sleep(self.latency)
            self._raise_injected_fault(method, params)
            self._raise_if_blocked(method, params)
            result = await handler(params)
            # A snapshot: later edits must not change what an earlier call returned.
            payload: JSONDict = {"ok": True, "result": copy.deepcopy(result)}
            status = 200
        except ApiError as error:
            payload, status = error.payload(), error.status
        except Exception as error:  # a bug in the fake: answer like Telegram would, loudly
            _log.exception("FakeBotAPI failed handling %s(%s)", method, params)
            payload = ApiError(500, f"Internal Server Error: fake bug {error!r}").payload()
            status = 500
        call = Call(method, params, time.monotonic(), payload, via_webhook_response)
        self._record(call)
        return call, status

    def _record(self, call: Call) -> None:
        self.calls.append(call)
        sequence = self._call_seq
        self._call_seq += 1
        if call.method in _VISIBLE_REPLY_METHODS and call.ok and isinstance(call.result, dict):
            chat_id = call.result.get("chat", {}).get("id")
            self._replies.setdefault(chat_id, []).append((sequence, call.result))
        self._notifier.notify()

    def _raise_injected_fault(self, method: str, params: JSONDict) -> None:
        for fault in self._faults:
            if fault.method != method.lower():
                continue
            if fault.chat_id is not None and params.get("chat_id") != fault.chat_id:
                continue
            fault.remaining -= 1
            if fault.remaining <= 0:
                self._faults.remove(fault)
            raise fault.error

    def _raise_if_blocked(self, method: str, params: JSONDict) -> None:
        chat_id = params.get("chat_id")
        if (
            isinstance(chat_id, int)
            and chat_id in self.blocked
            and method.lower().startswith(_CHAT_WRITE_PREFIXES)
        ):
            raise ApiError(403, "Forbidden: bot was blocked by the user")

    # ---- state helpers ------------------------------------------------------------------

    def _register_update(self, update: JSONDict) -> None:
        """Learn chats, user messages, callback and inline query ids from a pushed update."""
        for key in _MESSAGE_UPDATE_KEYS:
            message = update.get(key)
            if not isinstance(message, dict) or not isinstance(message.get("chat"), dict):
                continue
            state = self.register_chat(message["chat"])
            message_id = message.get("message_id")
            if key in ("message", "channel_post", "business_message") and isinstance(
                message_id, int
            ):
                state.next_message_id = max(state.next_message_id, message_id + 1)
                state.messages.setdefault(
                    message_id, StoredMessage(message=copy.deepcopy(message), from_bot=False)
                )
        query = update.get("callback_query")
        if isinstance(query, dict) and "id" in query:
            sender = query.get("from") or {}
            self._callback_queries[str(query["id"])] = _CallbackQueryState(sender.get("id"))
            message = query.get("message")
            if isinstance(message, dict) and isinstance(message.get("chat"), dict):
                self.register_chat(message["chat"])
        inline = update.get("inline_query")
        if isinstance(inline, dict) and "id" in inline:
            self._inline_queries[str(inline["id"])] = (inline.get("from") or {}).get("id")
        for key in ("my_chat_member", "chat_member", "chat_join_request"):
            member_update = update.get(key)
            if isinstance(member_update, dict) and isinstance(member_update.get("chat"), dict):
                self.register_chat(member_update["chat"])

    def _new_id(self) -> str:
        # Telegram's callback/inline query ids are long numeric strings.
        return str(4_000_000_000_000_000 + next(self._ids))

    def _is_delivered(self, update_id: int) -> bool:
        return update_id in self._delivered or update_id < self._confirmed_below

    def _is_allowed(self, update: JSONDict) -> bool:
        kind = _update_type(update)
        if self._allowed_updates is None:
            return kind not in _DEFAULT_EXCLUDED_UPDATES
        return kind in self._allowed_updates

    def _confirm(self, offset: int) -> None:
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            self._confirmed_below = max(self._confirmed_below, offset)
        elif offset < 0:
            # Telegram: a negative offset keeps only the last -offset updates.
            dropped, self._updates = self._updates[:offset], self._updates[offset:]
            self._delivered.update(u["update_id"] for u in dropped)

    def _drop_all_updates(self) -> None:
        self._delivered.update(u["update_id"] for u in self._updates)
        self._updates = []
        self._confirmed_below = self._next_update_id

    def _known_chat(self, params: JSONDict) -> ChatState:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise _bad_request("chat_id is empty")
        state = self.chats.get(chat_id) if isinstance(chat_id, int) else None
        if state is None:
            raise _bad_request("chat not found")
        return state

    def _store(self, state: ChatState, stored: StoredMessage) -> None:
        stored.touched = next(self._touches)
        state.messages[stored.message_id] = stored

    def _new_bot_message(
        self,
        state: ChatState,
        content: JSONDict,
        markup: JSONDict | None,
        reply_to: StoredMessage | None,
    ) -> JSONDict:
        message: JSONDict = {
            "message_id": state.allocate_message_id(),
            "from": self.bot_user,
            "chat": copy.deepcopy(state.chat),
            "date": int(time.time()),
        }
        if reply_to is not None:
            quoted = copy.deepcopy(reply_to.message)
            quoted.pop("reply_to_message", None)  # Telegram does not nest replies further
            message["reply_to_message"] = quoted
        message.update(content)
        if markup is not None:
            message["reply_markup"] = markup
        return message

    @staticmethod
    def _reply_target(state: ChatState, params: JSONDict) -> StoredMessage | None:
        reply = params.get("reply_parameters")
        allow_missing = bool(params.get("allow_sending_without_reply"))
        message_id: object = None
        if isinstance(reply, dict):
            message_id = reply.get("message_id")
            allow_missing = allow_missing or bool(reply.get("allow_sending_without_reply"))
        elif params.get("reply_to_message_id") is not None:
            message_id = params["reply_to_message_id"]
        if message_id is None:
            return None
        target = state.messages.get(message_id) if isinstance(message_id, int) else None
        if target is None and not allow_missing:
            raise _bad_request("message to be replied not found")
        return target

    def _message_to_edit(self, state: ChatState, params: JSONDict) -> StoredMessage:
        message_id = params.get("message_id")
        if message_id is None:
            raise _bad_request("message identifier is not specified")
        stored = state.messages.get(message_id) if isinstance(message_id, int) else None
        if stored is None:
            raise _bad_request("message to edit not found")
        if not stored.from_bot:
            raise _bad_request("message can't be edited")
        return stored

    @staticmethod
    def _not_modified() -> ApiError:
        return _bad_request(
            "message is not modified: specified new message content and reply markup are "
            "exactly the same as a current content and reply markup of the message"
        )

    def _visible_replies(self, chat_id: int, since: int) -> list[JSONDict]:
        """Messages returned by successful visible sends/edits to ``chat_id`` from call number
        ``since`` (a past ``_call_seq``) on."""
        entries = self._replies.get(chat_id, [])
        start = bisect.bisect_left(entries, since, key=lambda entry: entry[0])
        return [message for _, message in entries[start:]]

    # ---- methods: bot setup -------------------------------------------------------------

    async def _get_me(self, params: JSONDict) -> JSONDict:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": True,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _set_webhook(self, params: JSONDict) -> bool:
        url = str(params.get("url") or "")
        if not url:
            return await self._delete_webhook(params)  # Telegram: an empty url removes it
        # Telegram insists on HTTPS (and a few ports); a local fake cannot.
        if not url.lower().startswith(("http://", "https://")):
            raise _bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and secret != "" and not _SECRET_TOKEN_RE.fullmatch(str(secret)):
            raise _bad_request("secret token contains unallowed characters")
        max_connections = params.get("max_connections", 40)
        if not isinstance(max_connections, int):
            max_connections = 40
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            # Persistent, shared with getUpdates; [] means "back to the default".
            self._allowed_updates = frozenset(map(str, allowed)) or None
        if params.get("drop_pending_updates"):
            self._drop_all_updates()
        self.webhook_url = url
        self.webhook_secret = str(secret) if secret else None
        self.webhook_max_connections = min(max(max_connections, 1), 100)
        self._schedule_webhook_dispatch()
        return True

    async def _delete_webhook(self, params: JSONDict) -> bool:
        # Undelivered updates stay pending, for getUpdates. A POST already under way still
        # counts if it is answered 2xx; nothing is retried.
        self.webhook_url = None
        self.webhook_secret = None
        if params.get("drop_pending_updates"):
            self._drop_all_updates()
        return True

    async def _get_webhook_info(self, params: JSONDict) -> JSONDict:
        return self.webhook_info

    @staticmethod
    def _commands_key(params: JSONDict) -> tuple[str, str]:
        return _scope_key(params.get("scope")), str(params.get("language_code") or "")

    async def _set_my_commands(self, params: JSONDict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _bad_request("can't parse commands JSON object")
        if len(commands) > 100:
            raise _bad_request("BOT_COMMANDS_TOO_MUCH")
        for command in commands:
            if not isinstance(command, dict) or not _COMMAND_RE.fullmatch(
                str(command.get("command", ""))
            ):
                raise _bad_request("BOT_COMMAND_INVALID")
            # Wording unverified; the 1-256 character limit is documented.
            if not 1 <= len(str(command.get("description", "")).strip()) <= 256:
                raise _bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        key = self._commands_key(params)
        if commands:
            self.commands[key] = commands
        else:
            self.commands.pop(key, None)  # an empty list deletes, like deleteMyCommands
        return True

    async def _delete_my_commands(self, params: JSONDict) -> bool:
        self.commands.pop(self._commands_key(params), None)
        return True

    async def _get_my_commands(self, params: JSONDict) -> list[JSONDict]:
        return self.commands.get(self._commands_key(params), [])

    @staticmethod
    def _set_localized(store: dict[str, str], params: JSONDict, key: str, limit: int) -> bool:
        value = str(params.get(key) or "")
        if len(value) > limit:
            # Documented limit; the exact error wording is a guess.
            raise _bad_request(f"{key} is too long")
        language = str(params.get("language_code") or "")
        if value:
            store[language] = value
        else:
            store.pop(language, None)  # an empty value removes the localized text
        return True

    async def _set_my_description(self, params: JSONDict) -> bool:
        return self._set_localized(self.descriptions, params, "description", 512)

    async def _set_my_short_description(self, params: JSONDict) -> bool:
        return self._set_localized(self.short_descriptions, params, "short_description", 120)

    async def _get_my_description(self, params: JSONDict) -> JSONDict:
        language = str(params.get("language_code") or "")
        return {"description": self.descriptions.get(language, "")}

    async def _get_my_short_description(self, params: JSONDict) -> JSONDict:
        language = str(params.get("language_code") or "")
        return {"short_description": self.short_descriptions.get(language, "")}

    async def _set_my_name(self, params: JSONDict) -> bool:
        return self._set_localized(self.names, params, "name", 64)

    async def _set_chat_menu_button(self, params: JSONDict) -> bool:
        chat_id = params.get("chat_id")
        button = params.get("menu_button") or {"type": "default"}
        if not isinstance(button, dict) or button.get("type") not in (
            "default",
            "commands",
            "web_app",
        ):
            raise _bad_request("can't parse menu button")
        if button["type"] == "web_app":
            if not str(button.get("text") or "").strip():
                raise _bad_request("menu button text is empty")
            _check_web_app(button.get("web_app"))
        self.menu_buttons[chat_id if isinstance(chat_id, int) else None] = button
        return True

    async def _get_chat_menu_button(self, params: JSONDict) -> JSONDict:
        chat_id = params.get("chat_id")
        key = chat_id if isinstance(chat_id, int) else None
        return self.menu_buttons.get(key) or self.menu_buttons.get(None) or {"type": "default"}

    # ---- methods: updates ---------------------------------------------------------------

    async def _get_updates(self, params: JSONDict) -> list[JSONDict]:
        if self.webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use "
                "deleteWebhook to delete the webhook first",
            )
        offset = params.get("offset")
        limit = params.get("limit", 100)
        limit = min(max(limit, 1), 100) if isinstance(limit, int) else 100
        timeout = params.get("timeout", 0)
        timeout = max(float(timeout), 0.0) if isinstance(timeout, int | float) else 0.0
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            # Persistent, like Telegram; [] means "back to the default".
            self._allowed_updates = frozenset(map(str, allowed)) or None
        if isinstance(offset, int):
            self._confirm(offset)

        # Telegram answers an older pending getUpdates with 409 when a newer one arrives. This
        # also releases the request a client abandoned (PTB cancels its long poll on stop()
        # and immediately sends a final getUpdates to confirm the offset).
        self._poll_generation += 1
        generation = self._poll_generation
        self._notifier.notify()

        def deliverable() -> list[JSONDict]:
            return [update for update in self._updates if self._is_allowed(update)]

        def superseded() -> bool:
            return generation != self._poll_generation

        if not deliverable() and timeout > 0 and not self._closing:
            self._active_polls += 1
            self._notifier.notify()
            try:
                await self._notifier.wait_for(
                    lambda: bool(deliverable()) or superseded() or self._closing, timeout
                )
            except TimeoutError:
                pass
            finally:
                self._active_polls -= 1
            if superseded():
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only "
                    "one bot instance is running",
                )
        if self._closing:
            return []
        # Updates of types the bot did not ask for are never delivered: drop them.
        for update in self._updates:
            if not self._is_allowed(update):
                self._delivered.add(update["update_id"])
        self._updates = deliverable()
        batch = self._updates[:limit]
        self._delivered.update(update["update_id"] for update in batch)
        return batch

    # ---- webhook delivery ---------------------------------------------------------------

    def _schedule_webhook_dispatch(self) -> None:
        """Run :meth:`_dispatch_webhook` soon (once, however often this is called before).

        Scheduled rather than run at once so that synchronous callers (``push_update``, maybe
        from a fixture outside the event loop) never need a running loop themselves.
        """
        if (
            self.webhook_url is None
            or self._closing
            or self._loop is None
            or self._loop.is_closed()
            or self._webhook_dispatch_scheduled
        ):
            return
        self._webhook_dispatch_scheduled = True
        self._loop.call_soon_threadsafe(self._dispatch_webhook)

    def _dispatch_webhook(self) -> None:
        """Start delivering every pending update that may go now: the oldest pending update
        of each chat whose previous update was acknowledged, up to max_connections."""
        self._webhook_dispatch_scheduled = False
        if self.webhook_url is None or self._closing:
            return
        if not all(self._is_allowed(update) for update in self._updates):
            # Updates of types the bot did not ask for are never delivered: drop them.
            self._delivered.update(
                update["update_id"] for update in self._updates if not self._is_allowed(update)
            )
            self._updates = [update for update in self._updates if self._is_allowed(update)]
            self._notifier.notify()
        busy = {key for key, _ in self._webhook_inflight.values()}
        for update in self._updates:
            if len(self._webhook_inflight) >= self.webhook_max_connections:
                break
            update_id = update["update_id"]
            if update_id in self._webhook_inflight:
                continue
            key = _delivery_key(update)
            if key in busy:
                continue  # an older update of this chat is on its way: keep the order
            busy.add(key)
            ordinal = next(self._webhook_ordinal)
            every = self.duplicate_delivery_every
            duplicate = every is not None and every > 0 and ordinal % every == 0
            task = asyncio.create_task(
                self._deliver_to_webhook(update, duplicate), name=f"webhook-update-{update_id}"
            )
            self._webhook_inflight[update_id] = (key, task)

    def _pending_index(self, update_id: int) -> int | None:
        index = bisect.bisect_left(self._updates, update_id, key=lambda u: u["update_id"])
        if index < len(self._updates) and self._updates[index]["update_id"] == update_id:
            return index
        return None

    async def _deliver_to_webhook(self, update: JSONDict, duplicate: bool) -> None:
        """POST the update until a POST is answered 2xx, the update stops being pending (e.g.
        dropped) or the webhook is deleted."""
        update_id = update["update_id"]
        body = json.dumps(update, ensure_ascii=False).encode()
        delay = self.webhook_retry_delay
        try:
            while (
                self.webhook_url is not None
                and not self._closing
                and self._pending_index(update_id) is not None
            ):
                targets = self.webhook_targets or [self.webhook_url]
                index = next(self._webhook_round_robin) % len(targets)
                urls = [targets[index]]
                if duplicate:
                    urls.append(targets[(index + 1) % len(targets)])
                posts = [
                    self._start_post(update_id, url, body, duplicate=position > 0)
                    for position, url in enumerate(urls)
                ]
                # Delivered when either POST is answered 2xx; a slower duplicate runs on.
                for post in asyncio.as_completed(posts):
                    if await post:
                        return
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.webhook_retry_max_delay)
        finally:
            self._webhook_inflight.pop(update_id, None)
            self._notifier.notify()
            self._schedule_webhook_dispatch()

    def _start_post(
        self, update_id: int, url: str, body: bytes, *, duplicate: bool
    ) -> asyncio.Task[bool]:
        task = asyncio.create_task(self._post_update(update_id, url, body, duplicate))
        self._webhook_posts.add(task)

        def finished(done: asyncio.Task[bool]) -> None:
            self._webhook_posts.discard(done)
            self._notifier.notify()

        task.add_done_callback(finished)
        return task

    async def _post_update(self, update_id: int, url: str, body: bytes, duplicate: bool) -> bool:
        """One POST of an update; True if it was answered 2xx (and so delivered)."""
        if self._session is None:
            # limit=0: max_connections is enforced per update above, not per socket.
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        headers = {"Content-Type": "application/json"}
        if self.webhook_secret:
            headers[_WEBHOOK_SECRET_HEADER] = self.webhook_secret
        status: int | None = None
        error: str | None = None
        answer, answer_type = b"", ""
        try:
            async with self._session.post(
                url,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.webhook_timeout),
            ) as response:
                status = response.status
                if 200 <= status < 300:
                    answer, answer_type = await response.read(), response.content_type
                else:
                    # Telegram's wording, e.g. "Wrong response from the webhook: 502 Bad Gateway"
                    reason = f" {response.reason}" if response.reason else ""
                    error = f"Wrong response from the webhook: {status}{reason}"
        except TimeoutError:
            error = "Read timeout expired"
        except aiohttp.ClientConnectorError as failure:
            refused = isinstance(failure.os_error, ConnectionRefusedError)
            error = "Connection refused" if refused else f"Connection failed: {failure}"
        except (aiohttp.ClientError, OSError) as failure:
            error = f"Connection error: {failure.__class__.__name__}: {failure}"
        self.webhook_deliveries.append(
            WebhookDelivery(update_id, url, status, error, duplicate, time.monotonic())
        )
        if error is not None:
            _log.debug("webhook POST of update %s to %s failed: %s", update_id, url, error)
            self.webhook_last_error_message = error
            self.webhook_last_error_date = int(time.time())
            self._notifier.notify()
            return False
        # The method in the answer runs before the chat's next update is sent.
        await self._run_webhook_answer(answer, answer_type)
        index = self._pending_index(update_id)
        if index is not None:
            del self._updates[index]
        self._delivered.add(update_id)
        self._notifier.notify()
        return True

    async def _run_webhook_answer(self, body: bytes, content_type: str) -> None:
        """Execute the Bot API method a webhook answer may carry ({"method": ..., params})."""
        raw: dict[str, object]
        if content_type == "application/json":
            try:
                decoded = json.loads(body or b"null")
            except ValueError:
                return
            if not isinstance(decoded, dict):
                return
            raw = decoded
        elif content_type == "application/x-www-form-urlencoded":
            raw = dict(parse_qsl(body.decode("utf-8", "replace")))
        else:
            return  # e.g. an empty 200, or text: no method
        method = raw.pop("method", None)
        if not isinstance(method, str) or not method:
            return

        async def read_params() -> JSONDict:
            return {key: _decode_value(key, value) for key, value in raw.items()}

        await self._call(method, read_params, via_webhook_response=True)

    def _webhook_problem(self) -> str:
        """A note for assertion messages when the webhook is failing."""
        if self.webhook_url is None or self.webhook_last_error_message is None:
            return ""
        return f"; webhook last error: {self.webhook_last_error_message}"

    # ---- methods: messages --------------------------------------------------------------

    async def _send_message(self, params: JSONDict) -> JSONDict:
        state = self._known_chat(params)
        raw = params.get("text")
        visible = _render(raw, params.get("parse_mode"))
        _check_text_length(visible)
        markup = _inline_keyboard(params.get("reply_markup"))
        reply_to = self._reply_target(state, params)
        message = self._new_bot_message(state, {"text": visible}, markup, reply_to)
        self._store(
            state,
            StoredMessage(
                message=message,
                from_bot=True,
                raw_text=str(raw),
                parse_mode=params.get("parse_mode"),
            ),
        )
        return message

    async def _edit_message_text(self, params: JSONDict) -> JSONDict | bool:
        if params.get("inline_message_id"):
            # Messages sent via inline mode are not tracked; accept the edit.
            _check_text_length(_render(params.get("text"), params.get("parse_mode")))
            _inline_keyboard(params.get("reply_markup"))
            return True
        state = self._known_chat(params)
        stored = self._message_to_edit(state, params)
        if "text" not in stored.message:
            raise _bad_request("there is no text in the message to edit")
        raw = params.get("text")
        visible = _render(raw, params.get("parse_mode"))
        _check_text_length(visible)
        # No reply_markup in an edit removes the keyboard, as in Telegram.
        markup = _inline_keyboard(params.get("reply_markup"))
        if visible == stored.message["text"] and markup == stored.message.get("reply_markup"):
            raise self._not_modified()
        stored.message["text"] = visible
        stored.raw_text = str(raw)
        stored.parse_mode = params.get("parse_mode")
        return self._apply_edit(state, stored, markup)

    async def _edit_message_reply_markup(self, params: JSONDict) -> JSONDict | bool:
        if params.get("inline_message_id"):
            _inline_keyboard(params.get("reply_markup"))
            return True
        state = self._known_chat(params)
        stored = self._message_to_edit(state, params)
        markup = _inline_keyboard(params.get("reply_markup"))
        if markup == stored.message.get("reply_markup"):
            raise self._not_modified()
        return self._apply_edit(state, stored, markup)

    def _apply_edit(
        self, state: ChatState, stored: StoredMessage, markup: JSONDict | None
    ) -> JSONDict:
        if markup is None:
            stored.message.pop("reply_markup", None)
        else:
            stored.message["reply_markup"] = markup
        stored.message["edit_date"] = int(time.time())
        stored.edit_count += 1
        self._store(state, stored)
        return stored.message

    async def _delete_message(self, params: JSONDict) -> bool:
        state = self._known_chat(params)
        message_id = params.get("message_id")
        if not isinstance(message_id, int) or state.messages.pop(message_id, None) is None:
            raise _bad_request("message to delete not found")
        return True

    async def _send_chat_action(self, params: JSONDict) -> bool:
        self._known_chat(params)
        return True

    async def _get_chat(self, params: JSONDict) -> JSONDict:
        state = self._known_chat(params)
        return {
            **state.chat,
            # Required in ChatFullInfo by Bot API 9.x (and by PTB's parser).
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    # ---- methods: files -----------------------------------------------------------------

    async def _send_document(self, params: JSONDict) -> JSONDict:
        return self._send_file(params, "document")

    async def _send_photo(self, params: JSONDict) -> JSONDict:
        return self._send_file(params, "photo")

    def _file_input(self, params: JSONDict, kind: str) -> tuple[str | None, bytes, str | None]:
        """(existing file_id or None, bytes, file name) of the ``kind`` parameter."""
        value = params.get(kind)
        if isinstance(value, str) and value.startswith("attach://"):
            value = params.get(value.removeprefix("attach://"))
        if isinstance(value, UploadedFile):
            if not value.data:
                raise _bad_request("file must be non-empty")
            return None, value.data, value.filename
        if isinstance(value, str) and value in self.files:
            return value, self.files[value], self.file_names.get(value)
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            # No internet here: an URL "downloads" as an empty file named after its path.
            return None, b"", value.rstrip("/").rsplit("/", 1)[-1] or None
        if value:
            raise _bad_request("wrong file identifier/HTTP URL specified")
        raise _bad_request(f"there is no {kind} in the request")

    def _send_file(self, params: JSONDict, kind: str) -> JSONDict:
        state = self._known_chat(params)
        existing_id, data, file_name = self._file_input(params, kind)
        raw_caption = params.get("caption")
        caption = _render(raw_caption, params.get("parse_mode"))
        _check_caption_length(caption)
        markup = _inline_keyboard(params.get("reply_markup"))
        reply_to = self._reply_target(state, params)

        file_id = existing_id or f"BQAC-{kind}-{next(self._ids)}"
        self.files[file_id] = data
        self.file_names[file_id] = file_name
        unique_id = hashlib.sha1(data).hexdigest()[:16]  # same bytes, same unique id
        content: JSONDict
        if kind == "photo":
            size = _image_size(data)
            if size is None and existing_id is None and data:
                raise _bad_request("IMAGE_PROCESS_FAILED")
            width, height = size or (1, 1)
            content = {
                "photo": [
                    {
                        "file_id": file_id,
                        "file_unique_id": unique_id,
                        "width": width,
                        "height": height,
                        "file_size": len(data),
                    }
                ]
            }
        else:
            document: JSONDict = {
                "file_id": file_id,
                "file_unique_id": unique_id,
                "file_size": len(data),
            }
            if file_name:
                document["file_name"] = file_name
            content = {"document": document}
        if caption:
            content["caption"] = caption
        message = self._new_bot_message(state, content, markup, reply_to)
        self._store(
            state,
            StoredMessage(
                message=message,
                from_bot=True,
                raw_text=None if raw_caption is None else str(raw_caption),
                parse_mode=params.get("parse_mode"),
                file_id=file_id,
                file_bytes=data,
            ),
        )
        return message

    # ---- methods: queries ---------------------------------------------------------------

    @staticmethod
    def _query_invalid() -> ApiError:
        return _bad_request("query is too old and response timeout expired or query ID is invalid")

    async def _answer_callback_query(self, params: JSONDict) -> bool:
        query = self._callback_queries.get(str(params.get("callback_query_id") or ""))
        if query is None or query.answer is not None:
            raise self._query_invalid()
        text = params.get("text")
        if isinstance(text, str) and len(text) > MAX_CALLBACK_ANSWER_LENGTH:
            raise _bad_request("MESSAGE_TOO_LONG")
        query.answer = dict(params)
        if query.user_id is not None:
            self._last_answers[query.user_id] = query.answer
        return True

    async def _answer_inline_query(self, params: JSONDict) -> bool:
        query_id = str(params.get("inline_query_id") or "")
        if query_id not in self._inline_queries or query_id in self.inline_answers:
            raise self._query_invalid()
        if not isinstance(params.get("results"), list):
            raise _bad_request("can't parse inline query results JSON object")
        self.inline_answers[query_id] = dict(params)
        return True


# --------------------------------------------------------------------------------------------
# The conversational client
# --------------------------------------------------------------------------------------------


class FakeUser:
    """A person talking to the bot in a private chat (chat id == user id).

    Every ``send``/``press`` pushes an update and waits - event-driven - for the bot's visible
    reply, so a test reads like the conversation it checks. Timeouts raise AssertionError
    with the last calls the bot made.
    """

    def __init__(
        self,
        server: FakeBotAPI,
        user_id: int,
        first_name: str,
        last_name: str | None,
        username: str | None,
        language_code: str | None,
    ) -> None:
        self.server = server
        self.user_id = user_id
        self.first_name = first_name
        self.last_name = last_name
        self.username = username
        self.language_code = language_code

    def __repr__(self) -> str:
        return f"FakeUser({self.user_id}, {self.first_name!r})"

    @property
    def chat_id(self) -> int:
        return self.user_id

    @property
    def user(self) -> JSONDict:
        """The Telegram User object sent as ``from``."""
        user: JSONDict = {"id": self.user_id, "is_bot": False, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            if getattr(self, key) is not None:
                user[key] = getattr(self, key)
        return user

    @property
    def chat(self) -> JSONDict:
        chat: JSONDict = {"id": self.user_id, "type": "private", "first_name": self.first_name}
        for key in ("last_name", "username"):
            if getattr(self, key) is not None:
                chat[key] = getattr(self, key)
        return chat

    # ---- acting -------------------------------------------------------------------------

    def push_text(self, text: str) -> int:
        """Send a text message without waiting for anything; return its update_id."""
        return self.server.push_update({"message": self._new_message(text)})

    async def send(self, text: str, *, timeout: float = 5.0, replies: int = 1) -> JSONDict:
        """Send a text message and return the bot's reply (the ``replies``-th new one)."""
        since = self.server._call_seq
        self.push_text(text)
        received = await self._wait_for_replies(since, replies, timeout, f"after sending {text!r}")
        return received[replies - 1]

    async def press(
        self, label: str, *, timeout: float = 5.0, expect_reply: bool = True
    ) -> JSONDict:
        """Press the button labelled ``label`` on the latest keyboard; return the bot's
        answerCallbackQuery parameters."""
        stored = self._latest_keyboard_message()
        button = _pick_button(stored.inline_keyboard, label)
        data = button.get("callback_data")
        if not isinstance(data, str):
            raise AssertionError(f"{self!r}: button {button['text']!r} is not a callback button")
        return await self._press(stored, data, timeout, expect_reply, f"pressing {label!r}")

    async def press_data(
        self,
        data: str,
        *,
        message_id: int | None = None,
        timeout: float = 5.0,
        expect_reply: bool = True,
    ) -> JSONDict:
        """Send raw (possibly forged) callback data from the given or the latest keyboard."""
        if message_id is None:
            stored = self._latest_keyboard_message()
        else:
            found = self._state().messages.get(message_id) if self._has_chat() else None
            if found is None:
                raise AssertionError(f"{self!r}: no message {message_id} in the chat")
            stored = found
        return await self._press(stored, data, timeout, expect_reply, f"sending data {data!r}")

    async def send_raw(
        self, update_fields: Mapping[str, Any], *, expect_reply: bool = True, timeout: float = 5.0
    ) -> JSONDict | None:
        """Push any update body, e.g. ``{"edited_message": {"text": "x"}}`` or a sticker;
        missing ids, chat, sender and dates are filled in for this user.

        Returns the bot's reply in the update's chat (this user's private chat unless the
        update names another, e.g. a group), or with ``expect_reply=False`` None once the bot
        has fetched the update.
        """
        fields = copy.deepcopy(dict(update_fields))
        for key in _MESSAGE_UPDATE_KEYS:
            if isinstance(fields.get(key), dict):
                self._complete_message(key, fields[key])
        query = fields.get("callback_query")
        if isinstance(query, dict):
            query.setdefault("id", self.server._new_id())
            query.setdefault("from", self.user)
            query.setdefault("chat_instance", self._chat_instance)
        inline = fields.get("inline_query")
        if isinstance(inline, dict):
            inline.setdefault("id", self.server._new_id())
            inline.setdefault("from", self.user)
            inline.setdefault("query", "")
            inline.setdefault("offset", "")
        since = self.server._call_seq
        update_id = self.server.push_update(fields)
        if expect_reply:
            chat_id = _chat_id_of(fields, default=self.chat_id)
            received = await self._wait_for_replies(
                since, 1, timeout, f"after {_shorten(fields, 200)}", chat_id=chat_id
            )
            return received[0]
        await self._wait(
            lambda: self.server._is_delivered(update_id),
            timeout,
            f"the bot did not fetch update {update_id}",
        )
        return None

    async def wait_for_replies(self, count: int, *, timeout: float = 5.0) -> list[JSONDict]:
        """Wait until this chat has had ``count`` visible replies in total (sends and edits
        since the server started); return them all, oldest first."""
        return await self._wait_for_replies(0, count, timeout, "in total")

    async def inline_query(self, query: str, *, timeout: float = 5.0) -> JSONDict:
        """Type ``@bot query``; return the bot's answerInlineQuery parameters."""
        query_id = self.server._new_id()
        self.server.push_update(
            {
                "inline_query": {
                    "id": query_id,
                    "from": self.user,
                    "query": query,
                    "offset": "",
                    "chat_type": "sender",
                }
            }
        )
        await self._wait(
            lambda: query_id in self.server.inline_answers,
            timeout,
            f"the bot did not answer inline query {query!r}",
        )
        return self.server.inline_answers[query_id]

    async def expect_silence(self, seconds: float = 0.3) -> None:
        """Assert the bot makes no visible reply in this chat for ``seconds``."""
        since = self.server._call_seq
        try:
            await self.server.wait_until(
                lambda: bool(self.server._visible_replies(self.chat_id, since)), seconds
            )
        except TimeoutError:
            return
        reply = self.server._visible_replies(self.chat_id, since)[0]
        raise AssertionError(
            f"{self!r} expected silence for {seconds}s but the bot replied: "
            f"{reply.get('text', reply.get('caption'))!r}"
        )

    # ---- what the user sees -------------------------------------------------------------

    @property
    def messages(self) -> list[JSONDict]:
        """Bot messages still in the chat, oldest first, as they look now."""
        return [copy.deepcopy(stored.message) for stored in self._bot_messages()]

    @property
    def last_message(self) -> JSONDict:
        """The bot message most recently sent or edited."""
        return copy.deepcopy(self._last_stored().message)

    @property
    def last(self) -> str:
        """Visible text (or caption) of the most recently sent-or-edited bot message."""
        return self._last_stored().text or ""

    @property
    def last_html(self) -> str:
        """The same message's text exactly as the bot sent it (tags and entities included)."""
        return self._last_stored().raw_text or ""

    @property
    def buttons(self) -> list[list[str]]:
        """Rows of button labels of the latest keyboard message ([] if there is none)."""
        stored = self._find_keyboard_message()
        if stored is None:
            return []
        return [[button["text"] for button in row] for row in stored.inline_keyboard]

    @property
    def button_texts(self) -> list[str]:
        return [text for row in self.buttons for text in row]

    @property
    def last_answer(self) -> JSONDict | None:
        """Parameters of the bot's latest answerCallbackQuery for this user's presses."""
        return self.server._last_answers.get(self.user_id)

    @property
    def documents(self) -> list[ReceivedFile]:
        return self._files("document")

    @property
    def photos(self) -> list[ReceivedFile]:
        return self._files("photo")

    # ---- internals ----------------------------------------------------------------------

    @property
    def _chat_instance(self) -> str:
        return str(7_000_000_000_000 + self.user_id)

    def _has_chat(self) -> bool:
        return self.chat_id in self.server.chats

    def _state(self) -> ChatState:
        return self.server.register_chat(self.chat)

    def _new_message(self, text: str) -> JSONDict:
        message: JSONDict = {
            "message_id": self._state().allocate_message_id(),
            "from": self.user,
            "chat": self.chat,
            "date": int(time.time()),
            "text": text,
        }
        command = _BOT_COMMAND_RE.match(text)
        if command:
            # Telegram marks a leading /command (with an optional @botname) as an entity;
            # PTB's CommandHandler relies on it.
            message["entities"] = [
                {"type": "bot_command", "offset": 0, "length": utf16_length(command.group())}
            ]
        return message

    def _complete_message(self, key: str, message: JSONDict) -> None:
        now = int(time.time())
        message.setdefault("chat", self.chat)
        message.setdefault("from", self.user)
        message.setdefault("date", now)
        if "message_id" in message or not isinstance(message["chat"], dict):
            return
        chat_id = message["chat"].get("id")
        if key.startswith("edited_"):
            # Edit this user's latest message in that chat.
            own = [
                stored
                for stored in self.server.chat_history(chat_id)
                if (stored.message.get("from") or {}).get("id") == self.user_id
            ]
            message["message_id"] = own[-1].message_id if own else 1
            message.setdefault("edit_date", now)
        else:
            # Ids come from the counter of the chat the message is in (maybe a group).
            state = self.server.register_chat(message["chat"])
            message["message_id"] = state.allocate_message_id()

    def _bot_messages(self) -> list[StoredMessage]:
        return [stored for stored in self.server.chat_history(self.chat_id) if stored.from_bot]

    def _last_stored(self) -> StoredMessage:
        messages = self._bot_messages()
        if not messages:
            raise AssertionError(f"{self!r} has not received any message from the bot")
        return max(messages, key=lambda stored: stored.touched)

    def _find_keyboard_message(self) -> StoredMessage | None:
        with_keyboard = [stored for stored in self._bot_messages() if stored.inline_keyboard]
        return max(with_keyboard, key=lambda stored: stored.touched, default=None)

    def _latest_keyboard_message(self) -> StoredMessage:
        stored = self._find_keyboard_message()
        if stored is None:
            raise AssertionError(
                f"{self!r} has no message with an inline keyboard. Last calls:\n"
                f"{self.server.describe_calls()}"
            )
        return stored

    def _files(self, kind: str) -> list[ReceivedFile]:
        received = []
        for stored in self._bot_messages():
            if kind in stored.message and stored.file_id is not None:
                received.append(
                    ReceivedFile(
                        file_id=stored.file_id,
                        file_name=self.server.file_names.get(stored.file_id),
                        data=stored.file_bytes or b"",
                        caption=stored.message.get("caption"),
                        message=copy.deepcopy(stored.message),
                    )
                )
        return received

    async def _press(
        self, stored: StoredMessage, data: str, timeout: float, expect_reply: bool, action: str
    ) -> JSONDict:
        query_id = self.server._new_id()
        since = self.server._call_seq
        self.server.push_update(
            {
                "callback_query": {
                    "id": query_id,
                    "from": self.user,
                    "message": copy.deepcopy(stored.message),
                    "chat_instance": self._chat_instance,
                    "data": data,
                }
            }
        )
        query = self.server._callback_queries[query_id]

        def done() -> bool:
            if query.answer is None:
                return False
            return not expect_reply or bool(self.server._visible_replies(self.chat_id, since))

        what = "an answer" + (" and a visible reply" if expect_reply else "")
        await self._wait(done, timeout, f"expected {what} after {action}")
        assert query.answer is not None
        return query.answer

    async def _wait_for_replies(
        self, since: int, count: int, timeout: float, action: str, *, chat_id: int | None = None
    ) -> list[JSONDict]:
        chat = self.chat_id if chat_id is None else chat_id
        await self._wait(
            lambda: len(self.server._visible_replies(chat, since)) >= count,
            timeout,
            lambda: (
                f"expected {count} visible repl{'y' if count == 1 else 'ies'} in chat {chat} "
                f"{action} (got {len(self.server._visible_replies(chat, since))})"
            ),
        )
        return self.server._visible_replies(chat, since)

    async def _wait(
        self, predicate: Callable[[], bool], timeout: float, problem: str | Callable[[], str]
    ) -> None:
        try:
            await self.server.wait_until(predicate, timeout)
        except TimeoutError:
            if callable(problem):
                problem = problem()  # described now, when the details are final
            raise AssertionError(
                f"{self!r}: {problem} within {timeout}s "
                f"({self.server.pending_updates} updates pending"
                f"{self.server._webhook_problem()}). Last calls:\n"
                f"{self.server.describe_calls()}"
            ) from None


def _chat_id_of(update: Mapping[str, Any], *, default: int) -> int:
    """The chat an update happened in, as far as it says."""
    for key in _MESSAGE_UPDATE_KEYS:
        message = update.get(key)
        if isinstance(message, dict) and isinstance(message.get("chat"), dict):
            return int(message["chat"]["id"])
    query = update.get("callback_query")
    if isinstance(query, dict):
        message = query.get("message")
        if isinstance(message, dict) and isinstance(message.get("chat"), dict):
            return int(message["chat"]["id"])
    return default


def _pick_button(keyboard: list[list[JSONDict]], label: str) -> JSONDict:
    """The button labelled exactly ``label``, else the only one containing it (any case).

    Labels are compared as a person reads them: the isolates the bot puts around the values
    in a label are invisible, so "I am 16 or older" presses the label with its 16 isolated.
    """
    buttons = [button for row in keyboard for button in row]

    def read(button: JSONDict) -> str:
        return unisolated(str(button.get("text", "")))

    exact = [button for button in buttons if button.get("text") == label] or [
        button for button in buttons if read(button) == unisolated(label)
    ]
    if len(exact) == 1:
        return exact[0]
    wanted = unisolated(label).casefold()
    partial = [button for button in buttons if wanted in read(button).casefold()]
    if not exact and len(partial) == 1:
        return partial[0]
    texts = [button.get("text") for button in buttons]
    problem = "several buttons match" if (exact or partial) else "no button matches"
    raise AssertionError(f"{problem} {label!r}; the keyboard has {texts}")
