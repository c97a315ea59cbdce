"""What Postgres writes for a decision: no more rows and index entries than
the guarantees need (each costs WAL and CPU at every step of every run)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from integration.runs_harness import run_handling
from nats.aio.client import Client
from nats.aio.msg import Msg

from orchest_scheduler import outbox_store, plan_store
from orchest_scheduler.outbox import Outbox
from orchest_scheduler.outbox_store import OutboxRow
from orchest_schemas.bus import BusNames
from orchest_schemas.commands import CreateRun
from orchest_schemas.reports import ClaimStep, ReportAttempt, StepAttemptFinished
from orchest_schemas.status import StepStatus
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


async def test_a_chain_s_decision_writes_one_outbox_tuple_and_one_speculative_insert(
    database_url: str, nc: Client, bus: BusNames, tmp_path: Path
) -> None:
    """A report of a chain's step, whose answer hands the next step over (the
    decision every step of a chain costs), read back from the WAL: its
    messages are one outbox tuple, and only the report's row (keyed by its
    id, which a report sent twice shares) is a speculative insertion (``ON
    CONFLICT``); the status events are plain inserts."""
    (tmp_path / "s.sh").write_text("true\n")
    steps = {
        name: {"uuid": name, "title": name, "file_path": "s.sh", "incoming_connections": parents}
        for name, parents in (("a", []), ("b", ["a"]))
    }
    create = CreateRun.model_validate(
        {
            "pipeline_definition": {"uuid": "p-writes", "steps": steps},
            "run_config": {"project_dir": str(tmp_path)},
        }
    )
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_walinspect")
        async with run_handling(database_url, nc, bus) as runs:
            run = await runs.create(create)
            claim = ClaimStep(run_uuid=run.uuid, step_uuid="a", attempt=1, runner_id="r")
            assert (await runs.claim(claim)).granted
            report = StepAttemptFinished(
                run_uuid=run.uuid,
                step_uuid="a",
                attempt=1,
                status=StepStatus.SUCCESS,
                runner_id="r",
            )
            start = await conn.fetchval("SELECT pg_current_wal_insert_lsn()")
            answer = await runs.report(ReportAttempt(report=report, next_lease_seconds=30))
            end = await conn.fetchval("SELECT pg_current_wal_insert_lsn()")
        assert answer.work is not None and answer.work.step_uuid == "b"
        rows = await conn.fetch(
            "SELECT record_type, (regexp_match(block_ref, 'rel \\d+/\\d+/(\\d+)'))[1] AS node"
            " FROM pg_get_wal_records_info($1, $2) WHERE resource_manager = 'Heap'",
            start,
            end,
        )
        nodes = {
            str(await conn.fetchval("SELECT pg_relation_filenode($1::regclass)", name)): name
            for name in ("scheduler.outbox", "scheduler.event_log")
        }
        written = Counter((nodes.get(r["node"]), r["record_type"]) for r in rows)
    finally:
        await conn.close()
    inserts = {kind: n for (table, kind), n in written.items() if table == "scheduler.outbox"}
    assert sum(n for kind, n in inserts.items() if kind.startswith("INSERT")) == 1, written
    assert written[("scheduler.event_log", "HEAP_CONFIRM")] == 1, written


async def test_a_decision_reads_back_only_what_it_does_not_know(pool: asyncpg.Pool) -> None:
    """The decision's statement (both forms: a few steps, many) answers
    whether it wrote the run and its outbox row's id; the step and event rows
    it wrote are the ones it was given: it does not count them (an aggregate
    over each part, every step)."""
    for query in (plan_store._WRITE_PLAN, plan_store._WRITE_PLAN_MANY):
        values = dict.fromkeys(query.names)
        plan = await pool.fetch("EXPLAIN (VERBOSE) " + query.text, *query.args(**values))
        text = "\n".join(row[0] for row in plan)
        assert "Aggregate" not in text, text
        assert text.splitlines()[1].count("InitPlan") == 2, text  # applied, ids
