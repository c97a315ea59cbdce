"""A step's row is updated in place (HOT: no new index entries) by the
decisions and heartbeats, and the lease sweep still finds every lapsed
lease, on a database migrated with runs in flight too."""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from uuid import uuid4

import asyncpg
import pytest
from integration.runs_harness import chain_command, run_handling
from nats.aio.client import Client

from orchest_scheduler import migrations, plan_store, step_store
from orchest_scheduler.clock import utcnow
from orchest_scheduler.definitions import DefinitionStore
from orchest_scheduler.outbox import Outbox
from orchest_scheduler.runs import Runs
from orchest_scheduler.step_store import AttemptKey
from orchest_schemas.bus import BusNames
from orchest_schemas.commands import CreateRun
from orchest_schemas.reports import ClaimStep, ReportAttempt, StepAttemptFinished
from orchest_schemas.status import RunStatus, StepStatus
from orchest_service.broker import ensure_streams
from orchest_service.database import apply_migrations, create_pool


def chain(folder: Path, steps: int, pipeline: str = "p-in-place") -> CreateRun:
    return chain_command(folder, steps, pipeline)


def claim(run_uuid: str, step: str, lease_seconds: float = 30.0) -> ClaimStep:
    return ClaimStep(
        run_uuid=run_uuid, step_uuid=step, attempt=1, runner_id="r", lease_seconds=lease_seconds
    )


def report(run_uuid: str, step: str) -> ReportAttempt:
    finished = StepAttemptFinished(
        run_uuid=run_uuid, step_uuid=step, attempt=1, status=StepStatus.SUCCESS, runner_id="r"
    )
    return ReportAttempt(report=finished, next_lease_seconds=30.0)


async def lapsed(database_url: str, after_seconds: float) -> list[AttemptKey]:
    """What a sweep ``after_seconds`` from now finds (its replica calm for an hour)."""
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "scheduler"})
    try:
        now = utcnow()
        found = await step_store.lapsed_leases(
            conn, now + timedelta(seconds=after_seconds), now - timedelta(hours=1)
        )
    finally:
        await conn.close()
    return found


async def test_a_chain_s_decisions_update_its_steps_in_place(
    database_url: str, nc: Client, bus: BusNames, tmp_path: Path
) -> None:
    """Every report of a 60-step chain (its rows fill more than a page) whose
    answer hands the next step over, read back from the WAL: the updates of its
    steps are HOT (the new version on its page), with no entry in an index of
    ``run_steps``."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_walinspect")
        async with run_handling(database_url, nc, bus) as runs:
            run = await runs.create(chain(tmp_path, 60))
            assert (await runs.claim(claim(run.uuid, "s0"))).granted
            start = await conn.fetchval("SELECT pg_current_wal_insert_lsn()")
            for i in range(60):
                answer = await runs.report(report(run.uuid, f"s{i}"))
                assert i == 59 or (answer.work is not None and answer.work.step_uuid == f"s{i + 1}")
            end = await conn.fetchval("SELECT pg_current_wal_insert_lsn()")
        nodes = {
            str(r["relfilenode"]): r["relname"]
            for r in await conn.fetch(
                "SELECT c.relfilenode, c.relname FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = 'scheduler' AND (c.relname = 'run_steps'"
                " OR c.oid IN (SELECT indexrelid FROM pg_index"
                " WHERE indrelid = 'scheduler.run_steps'::regclass))"
            )
        }
        rows = await conn.fetch(
            "SELECT resource_manager || '/' || record_type AS kind,"
            " (regexp_match(block_ref, 'rel \\d+/\\d+/(\\d+)'))[1] AS node"
            " FROM pg_get_wal_records_info($1, $2)",
            start,
            end,
        )
        status = await conn.fetchval(
            "SELECT status FROM scheduler.runs WHERE uuid = $1::uuid", run.uuid
        )
    finally:
        await conn.close()
    written = Counter((nodes[r["node"]], r["kind"]) for r in rows if r["node"] in nodes)
    assert status == "SUCCESS"
    hot = written[("run_steps", "Heap/HOT_UPDATE")]
    plain = sum(n for (_, kind), n in written.items() if kind.startswith("Heap/UPDATE"))
    entries = sum(n for (_, kind), n in written.items() if kind.startswith("Btree/"))
    assert hot + plain == 2 * 60 - 1, written
    # HOT is Postgres' choice at each update: a page whose dead versions a
    # snapshot still holds (an autovacuum's analyze, another test's
    # transaction on a loaded machine) cannot be pruned then, and that update
    # goes to another page: one in some runs quiet, 7 of 119 once at load 20.
    # Without the fillfactor and with the lease index, none was HOT.
    assert plain * 5 <= hot + plain, written
    # A non-HOT update adds an entry to each index of the table: the primary
    # key's only, the lease index gone.
    assert entries <= plain, written


async def test_the_sweep_finds_the_lapsed_leases_of_running_attempts_only(
    database_url: str, nc: Client, bus: BusNames, tmp_path: Path
) -> None:
    """Of two runs, one with a running attempt and one ended: the attempt is
    found once its lease lapsed, not before, and nothing of the ended run."""
    async with run_handling(database_url, nc, bus) as runs:
        ended = await runs.create(chain(tmp_path, 1, "p-ended"))
        assert (await runs.claim(claim(ended.uuid, "s0", lease_seconds=5))).granted
        await runs.report(report(ended.uuid, "s0"))
        running = await runs.create(chain(tmp_path, 2, "p-running"))
        assert (await runs.claim(claim(running.uuid, "s0", lease_seconds=5))).granted
        assert await lapsed(database_url, 0) == []
        assert await lapsed(database_url, 60) == [AttemptKey(running.uuid, "s0", 1)]
        # Handed over in a report's answer, the next attempt has its own lease.
        answer = await runs.report(report(running.uuid, "s0"))
        assert answer.work is not None and answer.work.step_uuid == "s1"
        assert await lapsed(database_url, 60) == [AttemptKey(running.uuid, "s1", 1)]


def step_row(step: str, status: str, mode: plan_store.StepMode) -> plan_store.StepRow:
    return plan_store.StepRow(
        step_uuid=step,
        status=status,
        attempt=1,
        dispatched=True,
        retry_at=None,
        runner_id="r",
        lost_leases=0,
        work_attempt=2,
        lease_seconds=30.0,
        handed_by=None,
        mode=mode,
        exit_code=None,
        error=None,
        artifacts="[]",
    )


async def write_successes(
    conn: asyncpg.Connection, run_uuid: str, expected_version: int, steps: int
) -> list[int] | None:
    """A decision that only records steps ``s0``..``s{steps-1}`` as succeeded."""
    return await plan_store.write_plan(
        conn,
        run_uuid=run_uuid,
        expected_version=expected_version,
        run_status=None,
        abort_requested=False,
        event_seq=10,
        steps=[step_row(f"s{i}", "SUCCESS", plan_store.StepMode.FINAL) for i in range(steps)],
        events=[],
        outbox=[],
        now=utcnow(),
    )


@pytest.mark.parametrize("steps", [1, plan_store.SMALL_WRITE + 12])
async def test_a_decision_on_a_stale_version_writes_no_step(
    database_url: str, nc: Client, bus: BusNames, tmp_path: Path, steps: int
) -> None:
    """The version guard holds for the steps, in both forms of the statement
    (a few steps, many): a write expecting a version the run has moved on
    from changes no step (nor anything else); with the current version it
    does."""
    async with run_handling(database_url, nc, bus) as runs:
        run = await runs.create(chain(tmp_path, steps + 1))
        assert (await runs.claim(claim(run.uuid, "s0"))).granted
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "scheduler"})
    try:
        version = await conn.fetchval("SELECT version FROM runs WHERE uuid = $1", run.uuid)

        async def write(expected: int) -> list[int] | None:
            return await write_successes(conn, run.uuid, expected, steps)

        async def statuses() -> Counter[str]:
            rows = await conn.fetch("SELECT status FROM run_steps WHERE run_uuid = $1", run.uuid)
            return Counter(r["status"] for r in rows)

        before = await statuses()
        assert before == {"STARTED": 1, "PENDING": steps}
        assert await write(version - 1) is None
        assert await statuses() == before
        assert await write(version) == []
        assert await statuses() == {"SUCCESS": steps, "PENDING": 1}
    finally:
        await conn.close()


@pytest.fixture
def migrations_before_0012(tmp_path: Path) -> Iterator[str]:
    """The scheduler's migrations up to 0011, as a package of their own."""
    name = f"migrations_{uuid4().hex[:8]}"
    package = tmp_path / "packages" / name
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    source = Path(migrations.__file__).parent
    for sql in sorted(source.glob("*.sql")):
        if int(sql.name[:4]) < 12:
            shutil.copy(sql, package / sql.name)
    sys.path.insert(0, str(package.parent))
    yield name
    sys.path.remove(str(package.parent))


async def test_0012_applies_with_a_run_in_flight_which_then_finishes(
    database_url: str,
    nc: Client,
    bus: BusNames,
    tmp_path: Path,
    migrations_before_0012: str,
) -> None:
    """A database at 0011 holding a run whose first step is running: 0012
    applies, the running attempt's lease is still swept when it lapses, and
    the run goes on to its end."""
    pool = await create_pool(database_url, min_size=1, max_size=4, schema="scheduler")
    js = nc.jetstream()
    await ensure_streams(js, bus.streams)
    outbox = Outbox(pool, nc, js)
    stop = asyncio.Event()
    publisher = asyncio.create_task(outbox.run(stop))
    runs = Runs(pool, bus, outbox, DefinitionStore(js, bus.definitions_bucket, 3600))
    try:
        assert (await apply_migrations(pool, "scheduler", migrations_before_0012))[-1] == 11
        run = await runs.create(chain(tmp_path, 2))
        assert (await runs.claim(claim(run.uuid, "s0"))).granted
        assert await apply_migrations(pool, "scheduler", "orchest_scheduler.migrations") == [12]
        assert await lapsed(database_url, 0) == []
        assert await lapsed(database_url, 60) == [AttemptKey(run.uuid, "s0", 1)]
        answer = await runs.report(report(run.uuid, "s0"))
        assert answer.work is not None and answer.work.step_uuid == "s1"
        await runs.report(report(run.uuid, "s1"))
        view = await runs.view(run.uuid)
        assert view is not None and view.status is RunStatus.SUCCESS
        assert await lapsed(database_url, 60) == []
    finally:
        runs.close()
        stop.set()
        await publisher
        await pool.close()
