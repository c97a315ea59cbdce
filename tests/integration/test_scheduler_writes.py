"""What Postgres writes for a decision: no more rows and index entries than
the guarantees need (each costs WAL and CPU at every step of every run)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg

from orchest_scheduler import outbox_store
from orchest_scheduler.outbox import Outbox
from orchest_scheduler.outbox_store import OutboxRow
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


async def test_a_write_s_messages_are_one_outbox_row(pool: asyncpg.Pool, nc: Client) -> None:
    """The messages of one write are one row (one tuple, one index entry, one
    deletion), published in their order, rows in commit order."""
    arrived: asyncio.Queue[bytes] = asyncio.Queue()

    async def on_msg(msg: Msg) -> None:
        arrived.put_nowait(msg.data)

    sub = await nc.subscribe("writes-test.>", cb=on_msg)
    try:
        async with pool.acquire() as conn, conn.transaction():
            for part in ((0, 1, 2), (3, 4)):
                messages = [OutboxRow(f"writes-test.{i}", None, b"%d" % i, False) for i in part]
                ids = await outbox_store.insert(conn, messages)
                assert len(ids) == len(part) and len(set(ids)) == 1
        assert await pool.fetchval("SELECT count(*) FROM outbox") == 2
        assert await Outbox(pool, nc, nc.jetstream()).recover() == 5
        got = [await asyncio.wait_for(arrived.get(), 10) for _ in range(5)]
        assert got == [b"0", b"1", b"2", b"3", b"4"]
        assert await pool.fetchval("SELECT count(*) FROM outbox") == 0
    finally:
        await sub.unsubscribe()
