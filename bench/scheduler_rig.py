"""The scheduler's runs in this process, on an embedded Postgres and NATS of
their own, for the benchmarks that time one of its paths alone
(``decision_cost``, ``answer_cost``, ``backlog_cost``)."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import nats
from nats.aio.client import Client
from nats.js import JetStreamContext

from orchest_cli.nats_server import EmbeddedNats
from orchest_cli.postgres_server import EmbeddedPostgres
from orchest_scheduler.definitions import DefinitionStore
from orchest_scheduler.outbox import Outbox
from orchest_scheduler.runs import Runs
from orchest_schemas.bus import BusNames
from orchest_schemas.commands import CreateRun
from orchest_schemas.reports import ClaimStep, ReportAttempt, StepAttemptFinished
from orchest_schemas.status import StepStatus
from orchest_service.broker import ensure_streams
from orchest_service.database import apply_migrations, create_pool

DATABASE = "cost"


@dataclass
class Rig:
    root: Path
    pg: EmbeddedPostgres
    nats_server: EmbeddedNats
    nc: Client
    js: JetStreamContext
    bus: BusNames
    pool: asyncpg.Pool
    outbox: Outbox
    runs: Runs
    stop: asyncio.Event
    """Set when the rig closes: the outbox's publisher (and what else a
    benchmark started on it) ends."""

    @property
    def database_url(self) -> str:
        return self.pg.url(DATABASE)


@asynccontextmanager
async def scheduler_rig(prefix: str) -> AsyncIterator[Rig]:
    """Postgres and NATS started in a temporary folder, the scheduler's schema
    migrated, its streams made, its outbox publishing and its ``Runs``."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        root = Path(tmp)
        async with (
            EmbeddedPostgres(root / "pg", root / "pg.log") as pg,
            EmbeddedNats(root / "nats", root / "nats.log") as nats_server,
        ):
            await pg.create_database(DATABASE)
            nc = await nats.connect(nats_server.url)
            bus = BusNames(prefix="cost")
            js = nc.jetstream()
            await ensure_streams(js, bus.streams)
            pool = await create_pool(pg.url(DATABASE), min_size=1, max_size=4, schema="scheduler")
            await apply_migrations(pool, "scheduler", "orchest_scheduler.migrations")
            outbox = Outbox(pool, nc, js)
            stop = asyncio.Event()
            publisher = asyncio.create_task(outbox.run(stop))
            runs = Runs(pool, bus, outbox, DefinitionStore(js, bus.definitions_bucket, 3600))
            try:
                yield Rig(root, pg, nats_server, nc, js, bus, pool, outbox, runs, stop)
            finally:
                stop.set()
                await publisher
                await pool.close()
                await nc.close()


async def started_chain(runs: Runs, create: CreateRun) -> str:
    """A run of ``create`` (a chain ``s0``, ``s1``...) with ``s0`` claimed: its uuid."""
    run = await runs.create(create)
    claim = await runs.claim(ClaimStep(run_uuid=run.uuid, step_uuid="s0", attempt=1, runner_id="r"))
    assert claim.granted, claim
    return run.uuid


def succeeded(run_uuid: str, step_uuid: str) -> ReportAttempt:
    """The report of the step's first attempt, a success, as runner ``r`` sends it."""
    report = StepAttemptFinished(
        run_uuid=run_uuid,
        step_uuid=step_uuid,
        attempt=1,
        status=StepStatus.SUCCESS,
        exit_code=0,
        runner_id="r",
    )
    return ReportAttempt(report=report, next_lease_seconds=30.0)
