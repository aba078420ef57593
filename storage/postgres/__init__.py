"""Shared storage on PostgreSQL (asyncpg pool) for several bot instances, one module per
concern on one pool.

`PostgresStorage` is every concern on one database (and schema): see
storage.postgres.connection for the pool and migrations, and each concern's module for its
tables.
"""

from __future__ import annotations

from storage.postgres.broadcasts import PostgresBroadcasts
from storage.postgres.connection import split_schema
from storage.postgres.console import PostgresConsole
from storage.postgres.inbox import PostgresInbox
from storage.postgres.journeys import PostgresJourneys
from storage.postgres.live import PostgresLive
from storage.postgres.signatures import PostgresSignatures


class PostgresStorage(
    PostgresJourneys,
    PostgresSignatures,
    PostgresInbox,
    PostgresLive,
    PostgresConsole,
    PostgresBroadcasts,
):
    """Everything the bot stores, in one PostgreSQL database (storage.base.Storage)."""


__all__ = ["PostgresStorage", "split_schema"]
