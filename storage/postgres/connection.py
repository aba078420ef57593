"""PostgreSQL: the connection pool and the schema, shared by every concern.

Several bot instances share one database: every write is one statement or one transaction on
a pooled connection, and migrations run under an advisory lock so that instances starting at
once take turns.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from storage.base import StorageUnavailable
from storage.schema import migration_scripts, split_sql

APPLICATION_NAME = "petition-bot"  # how our connections show up in pg_stat_activity


# Any constant works: it only has to be the same for every instance of this bot.
MIGRATION_LOCK_KEY = 7_402_117_003


SCHEMA_PARAMETER = "schema"


def split_schema(database_url: str) -> tuple[str, str | None]:
    """`postgresql://…/db?schema=s` → (URL without it, "s"): a schema per campaign or test run."""
    parts = urlsplit(database_url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((value for key, value in query if key == SCHEMA_PARAMETER), None)
    rest = urlencode([(key, value) for key, value in query if key != SCHEMA_PARAMETER])
    return urlunsplit(parts._replace(query=rest)), schema


async def _nothing_to_reset(connection: asyncpg.Connection) -> None:
    """What a connection needs before going back to the pool: nothing beyond asyncpg's own
    rollback of an open transaction. asyncpg's default runs `RESET ALL; UNLISTEN *; ...` on
    every release, a second round trip for each of our one-statement calls (measured: a tenth
    of the bot's CPU under load), for session state this storage never creates: no SET, no
    LISTEN, advisory locks only transaction-scoped."""


def _quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class PostgresConnection:
    """An asyncpg pool on one database (and schema)."""

    def __init__(self, database_url: str, *, min_size: int = 2, max_size: int = 20) -> None:
        self.dsn, self.schema = split_schema(database_url)
        self.min_size, self.max_size = min_size, max_size
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        try:
            await self._connect()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            host = urlsplit(self.dsn).hostname or "the local socket"
            reason = getattr(error, "strerror", None) or str(error).splitlines()[0]
            raise StorageUnavailable(f"cannot connect to PostgreSQL on {host}: {reason}") from None
        await self._migrate()

    async def _connect(self) -> None:
        settings = {"application_name": APPLICATION_NAME}
        if self.schema:
            settings["search_path"] = self.schema
        if self.schema:
            connection = await asyncpg.connect(self.dsn)
            try:
                await connection.execute(
                    f"CREATE SCHEMA IF NOT EXISTS {_quote_identifier(self.schema)}"
                )
            except asyncpg.UniqueViolationError:
                pass  # another instance created it at the same moment
            finally:
                await connection.close()
        self._pool = await asyncpg.create_pool(
            self.dsn,
            min_size=self.min_size,
            max_size=self.max_size,
            server_settings=settings,
            reset=_nothing_to_reset,
        )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("storage is not open")
        return self._pool

    async def _migrate(self) -> None:
        async with self.pool.acquire() as connection, connection.transaction():
            # Two instances starting at once: the second waits here, then finds nothing to do.
            await connection.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK_KEY)
            await connection.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"
            )
            current = await connection.fetchval(
                "SELECT COALESCE(MAX(version), 0) FROM schema_version"
            )
            for version, script in migration_scripts("postgres"):
                if version > current:
                    for statement in split_sql(script):
                        await connection.execute(statement)
                    await connection.execute(
                        "INSERT INTO schema_version (version) VALUES ($1)", version
                    )
