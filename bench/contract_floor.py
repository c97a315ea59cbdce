"""Figure 1's second baseline: the I/O that the stack's guarantees require
between two steps of a chain, done by one process with nothing else.

Between one step's end and the next one's start, the reliability contract
(``docs/reliability.md``) asks for, in this order, each awaited before the
next: the report made durable (a JetStream publish and its acknowledgement),
received by the scheduler (a durable consumer's delivery), the decision it
makes written with one committed Postgres statement, the next step's work
made durable (a second publish), received by a runner (a second delivery),
and that runner's claim granted only once its own statement is committed
(a NATS request whose responder writes it). ``contract_chain`` does exactly
that, on the stack's own NATS and Postgres, with the smallest payloads and
statements that can carry it, all in the bench's one event loop: no
validation, no engine, no other process to wake. Its per-step overhead is
what no implementation of the contract on these servers can go below; the
figure compares it with the stack's and Celery's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import nats
import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from .harness import Stack, p50, run_script
from .report import MS

_TABLE = """
CREATE TABLE IF NOT EXISTS bench_contract_floor (
    run_uuid uuid NOT NULL,
    step integer NOT NULL,
    status text NOT NULL,
    attempt integer NOT NULL DEFAULT 1,
    version integer NOT NULL DEFAULT 0,
    PRIMARY KEY (run_uuid, step)
)
"""
_DECIDE = """
UPDATE bench_contract_floor
SET status = CASE WHEN step = $2 THEN 'SUCCESS' ELSE 'DISPATCHED' END, version = version + 1
WHERE run_uuid = $1 AND step IN ($2, $2 + 1)
"""
_CLAIM = """
UPDATE bench_contract_floor SET status = 'STARTED', version = version + 1
WHERE run_uuid = $1 AND step = $2 AND attempt = $3 AND status = 'DISPATCHED'
RETURNING version
"""


@dataclass
class ContractFloor:
    nc: Client
    js: JetStreamContext
    db: asyncpg.Connection
    subject: str
    """The prefix of this floor's subjects: ``.reports``, ``.work``, ``.claim``."""
    segments: dict[str, list[float]] = field(default_factory=dict)
    """Seconds each awaited part of the I/O took, per step, in the order made."""

    def _took(self, segment: str, since: float) -> float:
        now = time.perf_counter()
        self.segments.setdefault(segment, []).append(now - since)
        return now

    def parts(self) -> str:
        """Each part's median, in ms, in the order made."""
        return ", ".join(f"{name} {p50(took) * MS:.2f}" for name, took in self.segments.items())

    async def chain(self, root: Path, script: str, run_uuid: str, steps: int) -> None:
        """``bash script`` ``steps`` times, each start preceded by the contract's I/O."""
        await self.db.executemany(
            "INSERT INTO bench_contract_floor (run_uuid, step, status) VALUES ($1, $2, $3)",
            [(run_uuid, i, "PENDING" if i else "DISPATCHED") for i in range(steps + 1)],
        )
        reports = await self.js.subscribe(f"{self.subject}.reports", durable=f"r{run_uuid[:8]}")
        work = await self.js.subscribe(f"{self.subject}.work", durable=f"w{run_uuid[:8]}")
        env = {**os.environ, "ORCHEST_RUN_UUID": run_uuid}
        try:
            for step in range(steps):
                mark = time.perf_counter()
                reply = await self.nc.request(
                    f"{self.subject}.claim", json.dumps([run_uuid, step, 1]).encode(), timeout=10
                )
                assert reply.data == b"granted", reply.data
                mark = self._took("claim granted (request, UPDATE, commit, reply)", mark)
                await run_script(root, script, env)
                mark = time.perf_counter()
                report = json.dumps({"run": run_uuid, "step": step, "status": "SUCCESS"})
                await self.js.publish(f"{self.subject}.reports", report.encode())
                mark = self._took("report stored (publish, ack)", mark)
                got = await reports.next_msg(timeout=10)
                mark = self._took("report delivered", mark)
                await self.db.execute(_DECIDE, run_uuid, step)
                mark = self._took("decision committed (UPDATE, commit)", mark)
                await self.js.publish(
                    f"{self.subject}.work", json.dumps([run_uuid, step + 1, 1]).encode()
                )
                mark = self._took("work stored (publish, ack)", mark)
                await got.ack()
                dispatched = await work.next_msg(timeout=10)
                self._took("work delivered", mark)
                await dispatched.ack()
        finally:
            await reports.unsubscribe()
            await work.unsubscribe()
            for consumer in (f"r{run_uuid[:8]}", f"w{run_uuid[:8]}"):
                with contextlib.suppress(NotFoundError):  # unsubscribe may have deleted it
                    await self.js.delete_consumer(self.stream, consumer)

    async def fan_out(self, root: Path, script: str, steps: int, lanes: int) -> float:
        """``steps`` independent ``bash script``, ``lanes`` at once, each with
        the contract's I/O around it; the seconds from the run's write to the
        last decision. All work is dispatched by the run's creation (one
        write, then published); a lane takes one message at a time (a pull),
        claims it, runs it and reports it; the decisions are written a batch
        of reports at a time (one statement, one commit), as the scheduler
        does."""
        run_uuid = str(uuid.uuid4())
        tag = run_uuid[:8]
        reports = await self.js.pull_subscribe(f"{self.subject}.reports", durable=f"r{tag}")
        work = await self.js.pull_subscribe(f"{self.subject}.work", durable=f"w{tag}")
        env = {**os.environ, "ORCHEST_RUN_UUID": run_uuid}
        decided = 0
        start = time.perf_counter()
        await self.db.executemany(
            "INSERT INTO bench_contract_floor (run_uuid, step, status) VALUES ($1, $2, $3)",
            [(run_uuid, i, "DISPATCHED") for i in range(steps)],
        )
        acks = [self.js.publish(f"{self.subject}.work", json.dumps([run_uuid, i, 1]).encode())
                for i in range(steps)]  # fmt: skip
        await asyncio.gather(*acks)

        async def lane() -> None:
            while True:
                try:
                    [msg] = await work.fetch(1, timeout=1)
                except nats.errors.TimeoutError:
                    return  # every message taken
                _, step, attempt = json.loads(msg.data)
                reply = await self.nc.request(f"{self.subject}.claim", msg.data, timeout=10)
                assert reply.data == b"granted", reply.data
                await run_script(root, script, env)
                report = json.dumps([run_uuid, step, attempt, "SUCCESS"])
                await self.js.publish(f"{self.subject}.reports", report.encode())
                await msg.ack()

        async def scheduler() -> None:
            nonlocal decided
            while decided < steps:
                try:
                    batch = await reports.fetch(1024, timeout=1)
                except nats.errors.TimeoutError:
                    continue
                done = [json.loads(m.data)[1] for m in batch]
                await self.db.execute(
                    "UPDATE bench_contract_floor SET status = 'SUCCESS', version = version + 1"
                    " WHERE run_uuid = $1 AND step = ANY($2::integer[])",
                    run_uuid,
                    done,
                )
                for m in batch:
                    await m.ack()
                decided += len(batch)

        try:
            async with asyncio.TaskGroup() as group:
                deciding = group.create_task(scheduler())
                for _ in range(lanes):
                    group.create_task(lane())
                await deciding
            return time.perf_counter() - start
        finally:
            await reports.unsubscribe()
            await work.unsubscribe()
            for consumer in (f"r{tag}", f"w{tag}"):
                with contextlib.suppress(NotFoundError):
                    await self.js.delete_consumer(self.stream, consumer)

    @property
    def stream(self) -> str:
        return self.subject.replace(".", "_").upper()


@contextlib.asynccontextmanager
async def contract_floor(stack: Stack) -> AsyncIterator[ContractFloor]:
    """The floor's stream (file storage, work-queue retention, as the stack's
    are), its table, and a claim responder, on the stack's servers."""
    subject = f"{stack.bus.prefix}.benchfloor.{uuid.uuid4().hex[:12]}"
    nc = await nats.connect(stack.nats_url)
    db = await asyncpg.connect(stack.database_url)
    claims = await asyncpg.connect(stack.database_url)
    floor = ContractFloor(nc, nc.jetstream(), db, subject)

    async def claim(msg: Msg) -> None:
        try:
            run_uuid, step, attempt = json.loads(msg.data)
            granted = await claims.fetchval(_CLAIM, run_uuid, step, attempt)
        except Exception as exc:  # said in the chain's assertion
            await msg.respond(repr(exc).encode())
        else:
            await msg.respond(b"granted" if granted is not None else b"refused")

    try:
        await db.execute(_TABLE)
        await floor.js.add_stream(
            StreamConfig(
                name=floor.stream,
                subjects=[f"{subject}.reports", f"{subject}.work"],
                retention=RetentionPolicy.WORK_QUEUE,
                storage=StorageType.FILE,
            )
        )
        sub = await nc.subscribe(f"{subject}.claim", cb=claim)
        try:
            yield floor
        finally:
            await sub.unsubscribe()
            await floor.js.delete_stream(floor.stream)
            await db.execute("DROP TABLE bench_contract_floor")
    finally:
        await claims.close()
        await db.close()
        await nc.drain()
