"""Storage backends behind one protocol (`storage.base.Storage`)."""

from __future__ import annotations

from storage.base import Storage
from storage.postgres import PostgresStorage
from storage.records import SignatureRequest, SignResult, UserRecord
from storage.sqlite import SQLiteStorage

__all__ = [
    "PostgresStorage",
    "SQLiteStorage",
    "SignResult",
    "SignatureRequest",
    "Storage",
    "UserRecord",
    "open_storage",
]


def open_storage(database_url: str) -> Storage:
    """The backend for a DATABASE_URL (not yet opened: call `await storage.open()`)."""
    scheme, _, rest = database_url.partition("://")
    if scheme == "sqlite":
        # sqlite:///relative.db and sqlite:////absolute/path.db, as in SQLAlchemy.
        path = rest[1:] if rest.startswith("/") else rest
        return SQLiteStorage(path or ":memory:")
    if scheme in ("postgresql", "postgres"):
        return PostgresStorage(database_url)
    raise ValueError(
        f"DATABASE_URL: unsupported database scheme {scheme!r} (use sqlite:// or postgresql://)"
    )
