"""Migrations against a real Postgres: once, in order, atomically, under a lock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import uuid4

import asyncpg
import pytest

from orchest_service.database import apply_migrations, create_pool, load_migrations
from orchest_service.errors import MigrationError


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, min_size=1, max_size=8)
    yield pool
    await pool.close()


def make_package(root: Path, files: dict[str, str]) -> str:
    """A throwaway migrations package on ``sys.path`` (root is prepended by the test)."""
    name = f"migrations_{uuid4().hex[:8]}"
    package = root / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    for filename, sql in files.items():
        (package / filename).write_text(sql)
    return name


@pytest.mark.parametrize(
    ("schema", "package", "tables"),
    [
        ("scheduler", "orchest_scheduler.migrations", {"runs", "run_steps", "event_log"}),
        ("session_manager", "orchest_session_manager.migrations", {"sessions"}),
    ],
)
async def test_service_migrations_create_their_tables_once(
    pool: asyncpg.Pool, schema: str, package: str, tables: set[str]
) -> None:
    first = await apply_migrations(pool, schema, package)
    second = await apply_migrations(pool, schema, package)

    assert first == [m.version for m in load_migrations(package)]
    assert second == []
    found = {
        row["table_name"]
        for row in await pool.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema
        )
    }
    assert tables | {"schema_migrations"} <= found


async def test_concurrent_starters_apply_each_migration_exactly_once(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    # Not idempotent on purpose: a second application would fail.
    package = make_package(
        tmp_path,
        {
            "0001_counter.sql": "CREATE TABLE counter (n integer); INSERT INTO counter VALUES (1);",
            "0002_more.sql": "UPDATE counter SET n = n + 1;",
        },
    )
    pools = [await create_pool(database_url, min_size=1, max_size=1) for _ in range(6)]
    try:
        results = await asyncio.gather(*(apply_migrations(p, "racer", package) for p in pools))
        value = await pools[0].fetchval("SELECT n FROM racer.counter")
    finally:
        await asyncio.gather(*(p.close() for p in pools))

    assert sorted(results, key=len, reverse=True)[0] == [1, 2]
    assert sum(len(r) for r in results) == 2
    assert value == 2


async def test_failed_migration_leaves_nothing_applied(
    pool: asyncpg.Pool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    package = make_package(
        tmp_path,
        {
            "0001_ok.sql": "CREATE TABLE good (id integer);",
            "0002_broken.sql": "CREATE TABLE bad (id no_such_type);",
        },
    )
    with pytest.raises(MigrationError, match="0002_broken"):
        await apply_migrations(pool, "atomic", package)

    assert await pool.fetchval("SELECT to_regclass('atomic.good')") is None
    assert await pool.fetchval("SELECT to_regnamespace('atomic')") is None


@pytest.mark.parametrize(
    ("files", "problem"),
    [
        ({"0001_a.sql": "", "0003_c.sql": ""}, "0003 where 0002 was expected"),
        ({"001_a.sql": ""}, "not NNNN_name.sql"),
        ({"0001_Bad-Name.sql": ""}, "not NNNN_name.sql"),
    ],
)
def test_malformed_migration_sets_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str], problem: str
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    package = make_package(tmp_path, files)
    with pytest.raises(MigrationError, match=problem):
        load_migrations(package)


async def test_schema_name_is_checked(pool: asyncpg.Pool) -> None:
    with pytest.raises(MigrationError, match="schema name"):
        await apply_migrations(pool, "x; DROP TABLE y", "orchest_scheduler.migrations")
