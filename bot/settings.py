"""All configuration in one pydantic-settings model (environment variables, also `.env`)."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PETITION_FILE = PROJECT_ROOT / "petitions" / "five_eyes.toml"
SUPPORTED_DATABASE_SCHEMES = ("sqlite", "postgresql", "postgres")


class ConfigError(Exception):
    """A setting is missing or wrong; the message names the setting in one line."""


class Settings(BaseSettings):
    # `.env` next to run_bot.py, as the README says; one in the current folder (read last)
    # overrides it, as before.
    model_config = SettingsConfigDict(
        env_file=(PROJECT_ROOT / ".env", ".env"), env_file_encoding="utf-8", extra="ignore"
    )

    telegram_bot_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"
    database_url: str = "sqlite:///petition.db"
    # A petition file, a folder of them (every *.toml), or files separated by commas.
    petition_file: Path = DEFAULT_PETITION_FILE
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    # Updates processed at once across all users (each user's own updates always run in order).
    max_concurrent_updates: int = Field(default=256, ge=1)
    # Outgoing messages (sends and edits) in one private chat: a second, sustained, and the
    # burst above it (Telegram: about one a second in a chat, short bursts allowed). The burst
    # holds a whole journey's screens, so nobody tapping through waits. 0 = no pacing.
    chat_rate_limit: float = Field(default=1.0, ge=0)
    chat_rate_burst: int = Field(default=8, ge=1)
    # Outgoing messages in one group, a minute (Telegram: at most 20).
    group_rate_limit: int = Field(default=20, ge=1)
    # A cap on all the bot's calls, a second, for a bot Telegram gave other limits. 0 = off:
    # Telegram has no global limit on answering users.
    global_rate_limit: float = Field(default=0.0, ge=0)
    # Deprecated (read for one more release): it was a global cap of 30 calls a second, and
    # now sets GLOBAL_RATE_LIMIT.
    api_rate_limit: float | None = Field(default=None, ge=0)
    # Per supporter: updates per second, sustained, and the burst allowed above it (0 = off).
    user_rate_limit: float = Field(default=1.0, ge=0)
    user_rate_burst: int = Field(default=20, ge=1)
    # Seconds getUpdates waits on the server for new updates (long polling).
    polling_timeout: int = Field(default=30, ge=0, le=50)
    # Webhook mode (unset: long polling). The public HTTPS URL Telegram posts updates to, and
    # the secret it must send with each one; several instances can sit behind one URL.
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = Field(default=8080, ge=0, le=65535)
    # Updates Telegram posts at once. Each waits for its reply's Bot API call, so this bounds
    # throughput: measured 84 journeys/s at 40, 150 at 100 (Telegram's maximum).
    webhook_max_connections: int = Field(default=100, ge=1, le=100)
    # Days after the petition's deadline when signatures are anonymised; unset = kept.
    retention_days: int | None = Field(default=None, ge=1)
    # Secret key for the keyed hash that stands in for Telegram ids in /export (HMAC-SHA256).
    # Unset: the hash column stays empty, so an export never carries a linkable id.
    export_secret: SecretStr | None = None
    # Key of the pseudonyms that stand in for Telegram ids in logs; unset: a secret kept in
    # the database, shared by every instance.
    log_secret: SecretStr | None = None
    # Broadcast messages per second (Telegram allows about 30 per second across chats).
    broadcast_rate: float = Field(default=20.0, gt=0, le=30)
    # Public read-only count endpoint (JSON and an SVG badge for campaign sites); unset = off.
    public_port: int | None = Field(default=None, ge=0, le=65535)
    public_listen: str = "0.0.0.0"
    # The endpoint reads the database at most once per this many seconds.
    public_refresh_seconds: float = Field(default=5.0, ge=0.1, le=3600)
    # Prometheus metrics (/metrics) and a health check (/healthz) for operators; unset = off.
    # Keep it off the public internet: it listens on localhost unless told otherwise.
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    metrics_listen: str = "127.0.0.1"
    # The public HTTPS address of that server (behind a reverse proxy), e.g.
    # https://petition.example.org: set, the bot offers the Mini App signing form.
    public_url: str | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "debug", "info", "warning", "error"] = (
        "INFO"
    )
    log_format: Literal["text", "json"] = "text"

    @model_validator(mode="after")
    def _read_deprecated_names(self) -> Settings:
        if self.api_rate_limit is not None:
            warnings.warn(
                "API_RATE_LIMIT is deprecated and will be removed in the next release; it now "
                "sets GLOBAL_RATE_LIMIT (off by default). Messages are paced per chat "
                "(CHAT_RATE_LIMIT), as Telegram limits them.",
                FutureWarning,
                stacklevel=2,
            )
            if "global_rate_limit" not in self.model_fields_set:
                self.global_rate_limit = self.api_rate_limit
        return self

    @field_validator("telegram_api_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        scheme = value.split(":", 1)[0]
        if "://" not in value or scheme not in SUPPORTED_DATABASE_SCHEMES:
            raise ValueError("use sqlite:///path/to/file.db or postgresql://user@host:port/db")
        return value

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _parse_admin_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [part.strip() for part in value.split(",") if part.strip()]
            if not all(part.lstrip("-").isdigit() for part in parts):
                raise ValueError("must be comma-separated Telegram user ids, e.g. 1234,5678")
            return frozenset(int(part) for part in parts)
        if isinstance(value, int):
            return frozenset({value})
        return value

    @field_validator("webhook_url")
    @classmethod
    def _webhook_is_a_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be the public https:// URL Telegram posts updates to")
        return value or None

    @field_validator("public_url")
    @classmethod
    def _public_url_is_https(cls, value: str | None) -> str | None:
        # Telegram opens Mini Apps over HTTPS only.
        if value and not value.startswith("https://"):
            raise ValueError("must be the https:// address of the public server (PUBLIC_PORT)")
        return value.rstrip("/") if value else None

    @field_validator("webhook_secret")
    @classmethod
    def _secret_telegram_accepts(cls, value: SecretStr | None) -> SecretStr | None:
        # Telegram's rule for secret_token: 1-256 characters of A-Z, a-z, 0-9, _ and -.
        if value is not None and not re.fullmatch(
            r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()
        ):
            raise ValueError("use 1-256 characters: letters, digits, _ and -")
        return value

    def webhook_secret_or_raise(self) -> str:
        if self.webhook_secret is None:
            raise ConfigError(
                "WEBHOOK_SECRET is not set: webhook mode needs a secret so that only Telegram "
                "can post updates (1-256 characters: letters, digits, _ and -)"
            )
        return self.webhook_secret.get_secret_value()

    def token_or_raise(self) -> str:
        if self.telegram_bot_token is None or not self.telegram_bot_token.get_secret_value():
            raise ConfigError(
                "TELEGRAM_BOT_TOKEN is not set: get a token from @BotFather "
                "(or try the bot without one: python run_bot.py --sandbox)"
            )
        token = self.telegram_bot_token.get_secret_value()
        if not re.fullmatch(r"\d+:[A-Za-z0-9_-]+", token):
            raise ConfigError("TELEGRAM_BOT_TOKEN does not look like a token: 123456:ABC-def…")
        return token


def load_settings(**overrides: object) -> Settings:
    """Read settings; turn a validation failure into one line that names the setting."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        first = error.errors()[0]
        field = str(first["loc"][0]).upper() if first["loc"] else "settings"
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{field}: {message}") from None
