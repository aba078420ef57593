"""Telegram Mini App init data: who opened the form, as Telegram vouches for it.

A Mini App page reads `Telegram.WebApp.initData`, a query string Telegram signs with a key
derived from the bot's token, and sends it with every request. Checked exactly as Telegram
documents (https://core.telegram.org/bots/webapps#validating-data-received-via-the-mini-app):

    data_check_string = "\\n".join(f"{key}={value}" for every field but hash, sorted by key)
    secret_key = HMAC_SHA256(key="WebAppData", msg=bot_token)
    valid when hex(HMAC_SHA256(key=secret_key, msg=data_check_string)) == hash

plus `auth_date` no older than a day, so a leaked copy stops working. Pure: the caller gives
the token and the time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode

MAX_AGE = timedelta(hours=24)
# Telegram's clock and ours may disagree a little; a date further ahead than this is forged.
CLOCK_SKEW = timedelta(minutes=5)
MAX_LENGTH = 8192  # real init data is well under 1 KB
WEB_APP_DATA = b"WebAppData"


class InitDataError(ValueError):
    """The init data is not Telegram's for this bot, or no longer valid (the reason, for logs)."""


@dataclass(frozen=True, slots=True)
class WebAppUser:
    id: int
    first_name: str = ""
    last_name: str = ""
    username: str = ""
    language_code: str | None = None

    @property
    def full_name(self) -> str:
        """As PTB's `User.full_name`, so the form suggests the name the chat suggests."""
        return f"{self.first_name} {self.last_name}".strip()


@dataclass(frozen=True, slots=True)
class InitData:
    user: WebAppUser
    auth_date: datetime
    fields: Mapping[str, str]  # everything Telegram sent, hash excluded


def _secret_key(bot_token: str) -> bytes:
    return hmac.new(WEB_APP_DATA, bot_token.encode(), hashlib.sha256).digest()


def data_check_string(fields: Mapping[str, str]) -> str:
    return "\n".join(f"{key}={fields[key]}" for key in sorted(fields) if key != "hash")


def init_data_hash(fields: Mapping[str, str], bot_token: str) -> str:
    message = data_check_string(fields).encode()
    return hmac.new(_secret_key(bot_token), message, hashlib.sha256).hexdigest()


def sign_init_data(fields: Mapping[str, str], bot_token: str) -> str:
    """Init data as Telegram would make it for these fields (tests and the sandbox)."""
    return urlencode({**fields, "hash": init_data_hash(fields, bot_token)})


def check_init_data(raw: str, bot_token: str, now: datetime) -> InitData:
    """The verified init data, or InitDataError saying why not."""
    if not raw or len(raw) > MAX_LENGTH:
        raise InitDataError("missing or oversized")
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise InitDataError("not a query string") from None
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise InitDataError("a field is repeated")  # which one counts would be ambiguous
    received = fields.pop("hash", "")
    expected = init_data_hash(fields, bot_token)
    if not hmac.compare_digest(expected.encode(), received.encode()):
        raise InitDataError("wrong hash")
    auth_date = _auth_date(fields.get("auth_date", ""))
    if auth_date < now - MAX_AGE or auth_date > now + CLOCK_SKEW:
        raise InitDataError("auth_date out of range")
    return InitData(_user(fields.get("user", "")), auth_date, fields)


def _auth_date(value: str) -> datetime:
    if not value.isdigit():
        raise InitDataError("no auth_date")
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (OverflowError, OSError, ValueError):
        raise InitDataError("auth_date out of range") from None


def _user(value: str) -> WebAppUser:
    try:
        user = json.loads(value)
    except ValueError:
        raise InitDataError("no user") from None
    if not isinstance(user, dict):
        raise InitDataError("no user")
    user_id = user.get("id")
    if not isinstance(user_id, int) or isinstance(user_id, bool) or user_id <= 0:
        raise InitDataError("no user id")
    language = user.get("language_code")
    return WebAppUser(
        id=user_id,
        first_name=_text(user.get("first_name")),
        last_name=_text(user.get("last_name")),
        username=_text(user.get("username")),
        language_code=language if isinstance(language, str) else None,
    )


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
