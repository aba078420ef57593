"""Telegram's Mini App init data, checked as Telegram documents it (bot.init_data)."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode

import pytest

from bot.init_data import (
    InitDataError,
    check_init_data,
    data_check_string,
    sign_init_data,
)
from tests.clock import NOW

TOKEN = "123456:TEST-TOKEN"
USER = {"id": 4242, "first_name": "Ada", "last_name": "Lovelace", "language_code": "fr"}


def fields(**overrides: str) -> dict[str, str]:
    values = {
        "query_id": "AAHdF6IQAAAAAN0XohDhrOrc",
        "user": json.dumps(USER, separators=(",", ":")),
        "auth_date": str(int(NOW.timestamp())),
    }
    return {**values, **overrides}


def test_valid_init_data_names_the_user() -> None:
    checked = check_init_data(sign_init_data(fields(), TOKEN), TOKEN, NOW + timedelta(hours=1))
    assert checked.user.id == 4242
    assert checked.user.full_name == "Ada Lovelace"
    assert checked.user.language_code == "fr"
    assert checked.auth_date == NOW
    assert "hash" not in checked.fields


def test_the_hash_is_the_one_telegram_documents() -> None:
    """Computed here step by step from the documentation, not with the module's helpers."""
    values = fields(signature="abc")  # newer clients add `signature`: it is hashed like the rest
    check_string = "\n".join(f"{key}={values[key]}" for key in sorted(values))
    secret = hmac.new(b"WebAppData", TOKEN.encode(), hashlib.sha256).digest()
    digest = hmac.new(secret, check_string.encode(), hashlib.sha256).hexdigest()
    raw = urlencode({**values, "hash": digest})
    assert check_init_data(raw, TOKEN, NOW).user.id == 4242
    assert data_check_string({**values, "hash": digest}) == check_string


def test_a_wrong_hash_is_refused() -> None:
    raw = urlencode({**fields(), "hash": "0" * 64})
    with pytest.raises(InitDataError):
        check_init_data(raw, TOKEN, NOW)


def test_data_signed_for_another_bot_is_refused() -> None:
    raw = sign_init_data(fields(), "654321:ANOTHER-BOT")
    with pytest.raises(InitDataError):
        check_init_data(raw, TOKEN, NOW)


def test_stale_data_is_refused_after_a_day() -> None:
    raw = sign_init_data(fields(), TOKEN)
    assert check_init_data(raw, TOKEN, NOW + timedelta(hours=24))
    with pytest.raises(InitDataError):
        check_init_data(raw, TOKEN, NOW + timedelta(hours=24, seconds=1))


def test_data_from_the_future_is_refused() -> None:
    raw = sign_init_data(fields(auth_date=str(int((NOW + timedelta(hours=1)).timestamp()))), TOKEN)
    with pytest.raises(InitDataError):
        check_init_data(raw, TOKEN, NOW)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("user", json.dumps({**USER, "id": 1}, separators=(",", ":"))),  # someone else
        ("auth_date", str(int(NOW.timestamp()) + 60)),  # a fresher date, replayed
        ("query_id", "AAAAAAAA"),
    ],
)
def test_a_field_changed_after_signing_is_refused(field: str, value: str) -> None:
    signed = dict(parse_qsl(sign_init_data(fields(), TOKEN)))
    signed[field] = value
    with pytest.raises(InitDataError):
        check_init_data(urlencode(signed), TOKEN, NOW)


def test_a_field_added_or_repeated_after_signing_is_refused() -> None:
    raw = sign_init_data(fields(), TOKEN)
    with pytest.raises(InitDataError):
        check_init_data(raw + "&start_param=x", TOKEN, NOW)
    with pytest.raises(InitDataError):
        check_init_data(raw + "&user=" + json.dumps({"id": 1}), TOKEN, NOW)


def test_missing_hash_is_refused() -> None:
    with pytest.raises(InitDataError):
        check_init_data(urlencode(fields()), TOKEN, NOW)


@pytest.mark.parametrize(
    "values",
    [
        {k: v for k, v in fields().items() if k != "user"},  # no user at all
        fields(user="not json"),
        fields(user="[1, 2]"),
        fields(user=json.dumps({"first_name": "Ada"})),  # no id
        fields(user=json.dumps({"id": "4242"})),  # id not a number
        fields(user=json.dumps({"id": -5})),
        {k: v for k, v in fields().items() if k != "auth_date"},
        fields(auth_date="yesterday"),
        fields(auth_date="9" * 30),
    ],
)
def test_correctly_signed_but_unusable_data_is_refused(values: dict[str, str]) -> None:
    with pytest.raises(InitDataError):
        check_init_data(sign_init_data(values, TOKEN), TOKEN, NOW)


@pytest.mark.parametrize(
    "raw",
    ["", "garbage", "hash", "=&=&", "%ZZ", "a=1&&b=2", "x" * 10_000, "user=%7B&hash=zz"],
)
def test_garbage_is_refused(raw: str) -> None:
    with pytest.raises(InitDataError):
        check_init_data(raw, TOKEN, NOW)
