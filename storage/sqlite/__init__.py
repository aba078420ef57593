"""Embedded storage on SQLite (aiosqlite, WAL), one module per concern on shared connections.

`SQLiteStorage` is every concern on one database file: see storage.sqlite.connection for how
writes are funnelled, and each concern's module for its tables.
"""

from __future__ import annotations

from storage.sqlite.broadcasts import SQLiteBroadcasts
from storage.sqlite.console import SQLiteConsole
from storage.sqlite.inbox import SQLiteInbox
from storage.sqlite.journeys import SQLiteJourneys
from storage.sqlite.live import SQLiteLive
from storage.sqlite.signatures import SQLiteSignatures


class SQLiteStorage(
    SQLiteJourneys, SQLiteSignatures, SQLiteInbox, SQLiteLive, SQLiteConsole, SQLiteBroadcasts
):
    """Everything the bot stores, in one SQLite file (storage.base.Storage)."""


__all__ = ["SQLiteStorage"]
