"""Logging set-up: readable lines for people, or one JSON object per line for log pipelines.

Records never carry a Telegram id: code logs `pseudonym(user_id)` instead (bot.telegram_io).
Secrets (the bot token, the webhook secret) are cut out of every line, tracebacks included,
whichever library logged them; python-telegram-bot's own DEBUG output (whole updates with
names and ids, its API URL with the token) is never shown.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


REDACTED = "[redacted]"


class RedactingFormatter(logging.Formatter):
    """Another formatter's lines with every secret replaced (tracebacks too)."""

    def __init__(self, inner: logging.Formatter, secrets: Iterable[str]) -> None:
        super().__init__()
        self.inner = inner
        # The longest first, so a secret containing another is cut whole.
        self.secrets = sorted(set(secrets), key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        return redact(self.inner.format(record), self.secrets)


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if len(secret) >= MIN_SECRET_LENGTH:
            text = text.replace(secret, REDACTED)
    return text


def token_secrets(token: str | None) -> list[str]:
    """What must never be shown of a bot token: all of it, and the part after the colon (the
    id before it is public: it is the bot's user id)."""
    if not token:
        return []
    return [token, token.split(":", 1)[-1]]


# Shorter strings would redact ordinary words (a test token such as "1:x").
MIN_SECRET_LENGTH = 6


def configure_logging(level: str, log_format: str, secrets: Iterable[str] = ()) -> None:
    handler = logging.StreamHandler()
    inner: logging.Formatter = (
        JsonFormatter()
        if log_format == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    handler.setFormatter(RedactingFormatter(inner, secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Libraries that would otherwise log request URLs (which contain the bot token), whole
    # updates (PTB) or every SQL statement with its parameters (aiosqlite), so names and ids,
    # at DEBUG: our own DEBUG lines are enough to follow the bot.
    for noisy in ("httpx", "httpcore", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if root.level < logging.INFO:
        for talkative in ("telegram", "aiosqlite"):
            logging.getLogger(talkative).setLevel(logging.INFO)
