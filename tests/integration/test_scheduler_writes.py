"""What Postgres writes for a decision: no more rows and index entries than
the guarantees need (each costs WAL and CPU at every step of every run)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from orchest_service.database import apply_migrations, create_pool


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, min_size=1, max_size=2, schema="scheduler")
    await apply_migrations(pool, "scheduler", "orchest_scheduler.migrations")
    yield pool
    await pool.close()


async def test_an_event_row_costs_two_index_entries(pool: asyncpg.Pool) -> None:
    """The event log is keyed by the event's id (an event is stored once) and
    read by run in order; no index on ``seq`` alone (it had one, its primary
    key's)."""
    rows = await pool.fetch(
        "SELECT indexname, indexdef FROM pg_indexes"
        " WHERE schemaname = 'scheduler' AND tablename = 'event_log' ORDER BY indexname"
    )
    found = {r["indexname"]: r["indexdef"].split(" USING ")[1] for r in rows}
    assert found == {
        "event_log_by_run": "btree (run_uuid, seq) WHERE (run_uuid IS NOT NULL)",
        "event_log_event_id_key": "btree (event_id)",
    }
