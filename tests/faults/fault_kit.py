"""Helpers of the fault suite: pipelines whose steps record every attempt in a
ledger, submitting runs with retries, and the checks that a run ended as it
should with every event persisted (a module of its own name, as ``e2e_stack``)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import nats
from e2e_stack import Stack
from nats.aio.client import Client

from orchest_cli.embedded import SERVICES_USER, NatsUsers
from orchest_schemas.bus import BusNames
from support import eventually

ENDED = ("SUCCESS", "FAILURE", "ABORTED")
DIAMOND = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"], "e": ["d"]}
"""A 5-step DAG: a fan-out, a join and a tail."""
StackFactory = Callable[..., Stack]
"""``start_stack(runners=1, **env)`` (the fixture)."""


@dataclass
class Project:
    """A project whose one script appends ``<run> <step> <attempt>`` to a ledger."""

    root: Path

    @classmethod
    def make(cls, root: Path, extra: str = "") -> Project:
        root.mkdir(parents=True)
        ledger = root / "ledger"
        ledger.touch()
        line = 'echo "$ORCHEST_RUN_UUID $ORCHEST_STEP_UUID $ORCHEST_STEP_ATTEMPT"'
        (root / "step.sh").write_text(f'{line} >> "{ledger}"\n{extra}\n')
        return cls(root)

    def body(
        self, pipeline: str, dag: dict[str, list[str]], key: str | None = None
    ) -> dict[str, Any]:
        steps = {
            uuid: {"uuid": uuid, "title": uuid, "file_path": "step.sh", "incoming_connections": p}
            for uuid, p in dag.items()
        }
        body: dict[str, Any] = {
            "pipeline_definition": {"uuid": pipeline, "steps": steps},
            "run_config": {"project_dir": str(self.root)},
        }
        if key is not None:
            body["idempotency_key"] = key
        return body

    def attempts(self) -> Counter[tuple[str, str, int]]:
        """How many times each (run, step, attempt) started."""
        out: Counter[tuple[str, str, int]] = Counter()
        for line in (self.root / "ledger").read_text().splitlines():
            run, step, attempt = line.split()
            out[(run, step, int(attempt))] += 1
        return out


async def submit(http: httpx.AsyncClient, body: dict[str, Any], timeout: float = 60.0) -> str:
    """POST a run, again on connection errors and 5xx, until it is answered; its uuid."""

    async def post() -> str | None:
        response = await http.post("/api/runs", json=body)
        if response.status_code >= 500:
            return None
        assert response.status_code == 201, response.text
        uuid: str = response.json()["uuid"]
        return uuid

    return await eventually(post, timeout=timeout, what=f"run {body.get('idempotency_key')}")


async def all_ended(database_url: str, runs: list[str], timeout: float) -> None:
    """Wait until every run of ``runs`` ended (reading Postgres, which may be restarting)."""

    async def probe() -> bool | None:
        conn = await asyncpg.connect(database_url, timeout=2)
        try:
            n = await conn.fetchval(
                "SELECT count(*) FROM scheduler.runs WHERE uuid = ANY($1::uuid[]) AND status = ANY($2)",
                runs,
                list(ENDED),
            )
        finally:
            await conn.close()
        return True if n == len(runs) else None

    await eventually(probe, timeout=timeout, what=f"{len(runs)} runs ended")


async def stack_nats(stack: Stack) -> Client:
    """A NATS connection to the stack's server, as the services user when it is
    the embedded (authenticated) one."""
    info = stack.stack_file()
    users = NatsUsers.load(stack.state.nats_users_file)
    if users is None or not info["embedded"]["nats"]:
        return await nats.connect(info["nats_url"])
    return await nats.connect(
        info["nats_url"], user=SERVICES_USER, password=users.services_password
    )


CHAIN = {f"s{i}": [f"s{i - 1}"] if i else [] for i in range(6)}
"""A chain of 6 steps."""


async def runs_survive(
    start_stack: StackFactory,
    workdir: Path,
    name: str,
    restart: Callable[[], Awaitable[None]],
    **env: str,
) -> None:
    """Two runs of ``CHAIN`` (steps of 0.3 s) on a stack started with ``env``;
    once the first run's step s2 started, ``restart`` (a server the stack uses);
    then both runs end and pass ``check_runs``."""
    project = Project.make(workdir / "project", extra="sleep 0.3")
    stack = start_stack(**env)
    async with httpx.AsyncClient(base_url=stack.url, timeout=10.0) as http:
        runs = [await submit(http, project.body(name, CHAIN)) for _ in range(2)]

    async def mid_run() -> bool | None:
        return True if project.attempts()[(runs[0], "s2", 1)] else None

    await eventually(mid_run, timeout=30, what="step s2 started")
    await restart()
    await all_ended(stack.stack_file()["database_url"], runs, timeout=90)
    await check_runs(stack, project, runs, CHAIN)


async def check_runs(
    stack: Stack,
    project: Project,
    runs: list[str],
    dag: dict[str, list[str]],
    attempts: dict[tuple[str, str], int] | None = None,
) -> None:
    """Every run SUCCESS, each step SUCCESS at its expected attempt (1 unless
    ``attempts`` says otherwise) and started once per attempt; the run's events
    numbered 1..n with no gap, n the run's count, each published to JetStream."""
    attempts = attempts or {}
    ran = project.attempts()
    bus = BusNames("orchest")
    conn = await asyncpg.connect(stack.stack_file()["database_url"])
    nc = await stack_nats(stack)
    try:
        js = nc.jetstream()
        for run in runs:
            row = await conn.fetchrow(
                "SELECT status, event_seq FROM scheduler.runs WHERE uuid = $1", run
            )
            steps = await conn.fetch(
                "SELECT step_uuid, status, attempt FROM scheduler.run_steps WHERE run_uuid = $1",
                run,
            )
            trail = await conn.fetch(
                "SELECT sequence, kind, payload FROM scheduler.event_log WHERE run_uuid = $1"
                " ORDER BY seq",
                run,
            )
            assert row is not None and row["status"] == "SUCCESS", (
                run,
                row,
                [dict(s) for s in steps],
                [dict(e) for e in trail],
            )
            assert {s["step_uuid"] for s in steps} == set(dag), run
            for s in steps:
                want = attempts.get((run, s["step_uuid"]), 1)
                assert (s["status"], s["attempt"]) == ("SUCCESS", want), (run, dict(s))
                for n in range(1, want + 1):
                    assert ran[(run, s["step_uuid"], n)] == 1, (run, s["step_uuid"], n, ran)
                assert ran[(run, s["step_uuid"], want + 1)] == 0
            seqs = await conn.fetch(
                "SELECT sequence FROM scheduler.event_log"
                " WHERE run_uuid = $1 AND sequence IS NOT NULL ORDER BY sequence",
                run,
            )
            numbers = [r["sequence"] for r in seqs]
            assert numbers == list(range(1, row["event_seq"] + 1)), (run, numbers)
            info = await js.stream_info(bus.events_stream.name, subjects_filter=bus.run_events(run))
            published = sum((info.state.subjects or {}).values())
            assert published == len(numbers), (run, published, len(numbers))
    finally:
        await conn.close()
        await nc.close()


async def gather_limited(limit: int, *jobs: Any) -> list[Any]:
    """Await ``jobs`` (coroutines) with at most ``limit`` at a time, in order."""
    gate = asyncio.Semaphore(limit)

    async def one(job: Any) -> Any:
        async with gate:
            return await job

    return list(await asyncio.gather(*(one(j) for j in jobs)))
