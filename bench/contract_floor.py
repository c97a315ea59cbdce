"""Figure 1's and figure 2's second baseline: the I/O that the stack's
guarantees require around each step, done by one process with nothing else.

Between one step's end and the next one's start in a chain, the reliability
contract (``docs/reliability.md``) asks for one thing: the report made
durable by the decision it leads to, one committed Postgres statement that
ends the step and grants the next one to the runner that reported (a NATS
request whose responder writes it; the answer carries the next step's
work). ``ContractFloor.chain`` does exactly that, on the stack's own NATS
and Postgres, with the smallest payloads and statements that can carry it,
all in the bench's one event loop: no validation, no engine, no other
process to wake. Its per-step overhead is what no implementation of the
contract on these servers can go below; the figure compares it with the
stack's and Celery's. ``ContractFloor.fan_out`` does the same for
independent steps: at most ``MAX_QUEUED`` of them queued in a JetStream work
queue (each a pull and a claim granted by a committed statement), the others
held and handed over in report answers; each report answered once its
decision is committed (concurrent reports decided together, one statement
and one commit, as the scheduler does).
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

from orchest_scheduler.run_state import MAX_QUEUED

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
SET status = CASE WHEN step = $2 THEN 'SUCCESS' ELSE 'STARTED' END, version = version + 1
WHERE run_uuid = $1 AND step IN ($2, $2 + 1)
"""
_FINISH = """
UPDATE bench_contract_floor
SET status = CASE WHEN step = ANY($2::integer[]) THEN 'SUCCESS' ELSE 'STARTED' END,
    version = version + 1
WHERE run_uuid = $1 AND (step = ANY($2::integer[]) OR step = ANY($3::integer[]))
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
    held: dict[str, list[int]] = field(default_factory=dict)
    """A fan-out's steps not queued, by run: handed over in report answers."""

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
            [(run_uuid, i, "PENDING" if i else "STARTED") for i in range(steps + 1)],
        )
        env = {**os.environ, "ORCHEST_RUN_UUID": run_uuid}
        for step in range(steps):
            await run_script(root, script, env)
            mark = time.perf_counter()
            report = json.dumps([run_uuid, step, 1, "SUCCESS"]).encode()
            answer = await self.nc.request(f"{self.subject}.report", report, timeout=10)
            assert json.loads(answer.data) == [run_uuid, step + 1, 1], answer.data
            self._took("report answered with the next step (request, UPDATE, commit, reply)", mark)

    async def fan_out(self, root: Path, script: str, steps: int, lanes: int) -> float:
        """``steps`` independent ``bash script``, ``lanes`` at once, each with
        the contract's I/O around it; the seconds from the run's write to the
        last report answered. The run's creation (one write) queues at most
        ``MAX_QUEUED`` steps' work (published) and holds the rest; a lane pulls
        one message, claims it and runs it, then reports it: the answer hands
        it a held step, which it runs and reports in turn, until none is held
        and it pulls again."""
        run_uuid = str(uuid.uuid4())
        tag = run_uuid[:8]
        work = await self.js.pull_subscribe(f"{self.subject}.work", durable=f"w{tag}")
        env = {**os.environ, "ORCHEST_RUN_UUID": run_uuid}
        start = time.perf_counter()
        queued = min(steps, MAX_QUEUED)
        await self.db.executemany(
            "INSERT INTO bench_contract_floor (run_uuid, step, status) VALUES ($1, $2, $3)",
            [(run_uuid, i, "DISPATCHED" if i < queued else "HELD") for i in range(steps)],
        )
        self.held[run_uuid] = list(range(queued, steps))
        acks = [self.js.publish(f"{self.subject}.work", json.dumps([run_uuid, i, 1]).encode())
                for i in range(queued)]  # fmt: skip
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
                await msg.ack()  # acknowledged once reported, in the stack; here the same cost
                handed: int | None = step
                while handed is not None:
                    await run_script(root, script, env)
                    report = json.dumps([run_uuid, handed, attempt, "SUCCESS"]).encode()
                    answer = await self.nc.request(f"{self.subject}.reports", report, timeout=10)
                    handed = json.loads(answer.data)

        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(lanes):
                    group.create_task(lane())
            return time.perf_counter() - start
        finally:
            self.held.pop(run_uuid, None)
            await work.unsubscribe()
            with contextlib.suppress(NotFoundError):
                await self.js.delete_consumer(self.stream, f"w{tag}")

    @property
    def stream(self) -> str:
        return self.subject.replace(".", "_").upper()


@contextlib.asynccontextmanager
async def contract_floor(stack: Stack) -> AsyncIterator[ContractFloor]:
    """The floor's stream (file storage, work-queue retention, as the stack's
    are), its table, and its responders (claims; a chain's reports, each
    granting the next step; a fan-out's reports, decided together), on the
    stack's servers."""
    subject = f"{stack.bus.prefix}.benchfloor.{uuid.uuid4().hex[:12]}"
    nc = await nats.connect(stack.nats_url)
    db = await asyncpg.connect(stack.database_url)
    claims = await asyncpg.connect(stack.database_url)
    decisions = await asyncpg.connect(stack.database_url)
    floor = ContractFloor(nc, nc.jetstream(), db, subject)
    waiting: list[Msg] = []
    deciding: set[asyncio.Task[None]] = set()

    async def claim(msg: Msg) -> None:
        try:
            run_uuid, step, attempt = json.loads(msg.data)
            granted = await claims.fetchval(_CLAIM, run_uuid, step, attempt)
        except Exception as exc:  # said in the caller's assertion
            await msg.respond(repr(exc).encode())
        else:
            await msg.respond(b"granted" if granted is not None else b"refused")

    async def hand_off(msg: Msg) -> None:
        run_uuid, step, attempt, _ = json.loads(msg.data)
        await decisions.execute(_DECIDE, run_uuid, step)
        await msg.respond(json.dumps([run_uuid, step + 1, attempt]).encode())

    async def decide_waiting() -> None:
        while waiting:
            batch = waiting[:]
            del waiting[:]
            reports = [json.loads(m.data) for m in batch]
            run_uuid = reports[0][0]
            held = floor.held.get(run_uuid, [])
            handed = [held.pop(0) if held else None for _ in batch]
            await decisions.execute(
                _FINISH, run_uuid, [r[1] for r in reports], [h for h in handed if h is not None]
            )
            answers = [json.dumps(h).encode() for h in handed]
            await asyncio.gather(*(m.respond(a) for m, a in zip(batch, answers, strict=True)))

    async def report(msg: Msg) -> None:
        waiting.append(msg)
        if not deciding:
            task = asyncio.create_task(decide_waiting())
            deciding.add(task)
            task.add_done_callback(deciding.discard)

    try:
        await db.execute(_TABLE)
        await floor.js.add_stream(
            StreamConfig(
                name=floor.stream,
                subjects=[f"{subject}.work"],
                retention=RetentionPolicy.WORK_QUEUE,
                storage=StorageType.FILE,
            )
        )
        subs = [
            await nc.subscribe(f"{subject}.claim", cb=claim),
            await nc.subscribe(f"{subject}.report", cb=hand_off),
            await nc.subscribe(f"{subject}.reports", cb=report),
        ]
        try:
            yield floor
        finally:
            for sub in subs:
                await sub.unsubscribe()
            await floor.js.delete_stream(floor.stream)
            await db.execute("DROP TABLE bench_contract_floor")
    finally:
        await decisions.close()
        await claims.close()
        await db.close()
        await nc.drain()
