"""Database URLs: checking them, opening them, printing them without passwords."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from storage import open_storage
from storage.base import Storage, StorageUnavailable
from storage.postgres import PostgresStorage
from storage.sqlite import SQLiteStorage
from storage.transfer.common import UsageError

# --- URLs ---


def redact(url: str) -> str:
    """A URL fit for printing: any password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def _identity(storage: Storage) -> tuple[str, ...]:
    if isinstance(storage, SQLiteStorage):
        return ("sqlite", str(Path(storage.path).resolve()))
    if isinstance(storage, PostgresStorage):
        return (
            "postgresql",
            storage.dsn.replace("postgres://", "postgresql://", 1),
            storage.schema or "",
        )
    return (type(storage).__name__, str(id(storage)))


def _check_urls(source_url: str, destination_url: str) -> None:
    storages = []
    for role, url in (("source", source_url), ("destination", destination_url)):
        try:
            storage = open_storage(url)  # not opened: this only parses the URL
        except ValueError as error:
            raise UsageError(f"--{'from' if role == 'source' else 'to'}: {error}") from None
        if isinstance(storage, SQLiteStorage) and storage.path == ":memory:":
            raise UsageError(f"the {role} {redact(url)} is an in-memory SQLite database")
        storages.append(storage)
    source, destination = storages
    if isinstance(source, SQLiteStorage) and not Path(source.path).is_file():
        raise UsageError(f"the source {redact(source_url)}: no such file {source.path}")
    if _identity(source) == _identity(destination):
        raise UsageError("the source and the destination are the same database")


async def _open(url: str, role: str) -> Storage:
    storage = open_storage(url)
    try:
        await storage.open()
    except (
        StorageUnavailable,
        OSError,
        ValueError,
        sqlite3.Error,
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
    ) as e:
        await storage.close()
        raise UsageError(
            f"cannot open the {role} {redact(url)}: {type(e).__name__}: {_one_line(e)}"
        ) from None
    return storage


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or repr(error)
