"""Postgres: the pool of a service, and its numbered migrations.

Each owning service keeps its tables in a Postgres schema named after it
(``scheduler``, ``session_manager``); its migrations are ``NNNN_name.sql``
files in a package, applied in order, in one transaction, under an advisory
lock, so replicas starting together apply each one exactly once.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from importlib import resources

import asyncpg

from .errors import DependencyUnavailable, MigrationError

logger = logging.getLogger(__name__)

_MIGRATION_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


async def create_pool(
    dsn: str,
    *,
    min_size: int,
    max_size: int,
    wait_seconds: float = 30.0,
    schema: str | None = None,
) -> asyncpg.Pool:
    """A pool, once Postgres answers; retried until ``wait_seconds`` pass.

    Postgres may still be starting (compose starts everything at once), so a
    refused connection is retried with a short backoff; anything else (bad
    credentials, missing database) fails at once. With ``schema``, unqualified
    table names resolve in the service's own schema first.
    """
    server_settings = {"plan_cache_mode": "force_generic_plan"}
    if schema:
        server_settings["search_path"] = f"{schema}, public"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    delay = 0.1
    while True:
        try:
            pool = await asyncpg.create_pool(
                dsn,
                min_size=min_size,
                max_size=max_size,
                timeout=min(10.0, wait_seconds),
                server_settings=server_settings,
                reset=_keep_session,
            )
        except (OSError, TimeoutError, asyncpg.CannotConnectNowError) as exc:
            if loop.time() + delay > deadline:
                raise DependencyUnavailable(
                    f"cannot reach Postgres within {wait_seconds:.0f}s: {exc}"
                ) from exc
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
            continue
        except asyncpg.PostgresError as exc:
            raise DependencyUnavailable(f"Postgres refused the connection: {exc}") from exc
        assert pool is not None
        return pool


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Connections go back to the pool as they are: the services keep no session
    state (no LISTEN, no session locks, no temporary tables), so asyncpg's
    default reset would only cost a round trip per release."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations(package: str) -> list[Migration]:
    """Read the numbered SQL files of a package, in order; refuse gaps and strays."""
    found: list[Migration] = []
    for entry in resources.files(package).iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _MIGRATION_FILE.match(entry.name)
        if match is None:
            raise MigrationError(f"{package}: migration file name not NNNN_name.sql: {entry.name}")
        found.append(Migration(int(match.group(1)), match.group(2), entry.read_text()))
    found.sort(key=lambda m: m.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise MigrationError(
                f"{package}: migrations must be numbered 1, 2, 3...; "
                f"found {migration.version:04d} where {expected:04d} was expected"
            )
    return found


async def apply_migrations(pool: asyncpg.Pool, schema: str, package: str) -> list[int]:
    """Bring ``schema`` up to date with the migrations of ``package``.

    Returns the versions applied now (empty when it was up to date). All of
    it happens in one transaction holding a transaction-scoped advisory lock
    keyed by the schema name: a concurrent starter waits, then finds nothing
    left to do.
    """
    if not _SCHEMA_NAME.match(schema):
        raise MigrationError(f"not a valid schema name: {schema!r}")
    migrations = load_migrations(package)
    applied_now: list[int] = []
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext('orchest.migrations.' || $1))", schema
        )
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {schema}.schema_migrations ("
            " version integer PRIMARY KEY,"
            " name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        rows = await conn.fetch(f"SELECT version FROM {schema}.schema_migrations")
        done = {row["version"] for row in rows}
        for migration in migrations:
            if migration.version in done:
                continue
            try:
                await conn.execute(f"SET LOCAL search_path TO {schema}, public")
                await conn.execute(migration.sql)
            except asyncpg.PostgresError as exc:
                raise MigrationError(
                    f"{schema} migration {migration.version:04d}_{migration.name} failed: {exc}"
                ) from exc
            await conn.execute(
                f"INSERT INTO {schema}.schema_migrations (version, name) VALUES ($1, $2)",
                migration.version,
                migration.name,
            )
            applied_now.append(migration.version)
            logger.info("applied %s migration %04d_%s", schema, migration.version, migration.name)
    return applied_now
