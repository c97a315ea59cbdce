"""The scheduler's per-step path does no work it can skip: a chain's
definition is encoded and hashed once, not at every dispatch; the work and
events it builds without validation are what the contracts say."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from integration.runs_harness import chain_command, run_handling
from nats.aio.client import Client

from orchest_scheduler.definitions import DefinitionStore
from orchest_scheduler.outbox import Outbox, OutMessage
from orchest_scheduler.runs import Runs
from orchest_schemas.bus import BusNames
from orchest_schemas.commands import CreateRun, StepWork
from orchest_schemas.events import StepStatusChanged
from orchest_schemas.pipeline import PipelineDefinition
from orchest_schemas.reports import ClaimStep, ReportAttempt, StepAttemptFinished
from orchest_schemas.status import StepStatus


class CountingStore(DefinitionStore):
    """The real store, counting the definitions it encodes (``put``)."""

    puts = 0

    async def put(self, definition: PipelineDefinition) -> str:
        self.puts += 1
        return await super().put(definition)


def chain(tmp_path: Path, steps: int) -> CreateRun:
    return chain_command(tmp_path, steps, "p-hot", env={"A": "1"})


async def run_chain(runs: Runs, run_uuid: str, steps: int) -> None:
    for i in range(steps):
        claim = await runs.claim(
            ClaimStep(run_uuid=run_uuid, step_uuid=f"s{i}", attempt=1, runner_id="r")
        )
        assert claim.granted, claim
        await runs.on_report(
            StepAttemptFinished(
                run_uuid=run_uuid,
                step_uuid=f"s{i}",
                attempt=1,
                status=StepStatus.SUCCESS,
                exit_code=0,
                runner_id="r",
            )
        )


async def test_a_chain_encodes_its_definition_once(
    database_url: str, nc: Client, bus: BusNames, tmp_path: Path
) -> None:
    store = CountingStore(nc.jetstream(), bus.definitions_bucket, 3600)
    async with run_handling(database_url, nc, bus, store) as runs:
        run = await runs.create(chain(tmp_path, 4))
        await run_chain(runs, run.uuid, 4)
        view = await runs.view(run.uuid)
        assert view is not None and view.status == "SUCCESS", view
        # One at the run's creation; the three dispatches after it trust the key.
        assert store.puts == 1
        # Once the key is no longer trusted, the next dispatch checks the object again.
        store._known.clear()
        again = await runs.create(chain(tmp_path, 2))
        await run_chain(runs, again.uuid, 2)
        assert store.puts == 2


async def test_work_and_events_built_unvalidated_are_valid_contracts(
    database_url: str, nc: Client, bus: BusNames, tmp_path: Path
) -> None:
    seen: list[tuple[str, bytes]] = []
    done = asyncio.Event()

    async def record(msg: Any) -> None:
        seen.append((msg.subject, msg.data))
        if len([s for s, _ in seen if ".steps." in s]) == 3:
            done.set()

    await nc.subscribe(f"{bus.prefix}.>", cb=record)
    store = DefinitionStore(nc.jetstream(), bus.definitions_bucket, 3600)
    async with run_handling(database_url, nc, bus, store) as runs:
        run = await runs.create(chain(tmp_path, 3))
        await run_chain(runs, run.uuid, 3)
        await asyncio.wait_for(done.wait(), 10)
    works = [data for subject, data in seen if ".steps." in subject]
    for data in works:
        work = StepWork.model_validate_json(data)
        assert work.env_variables == {"A": "1"} and work.pipeline_definition is None
        assert json.loads(data) == json.loads(work.model_dump_json(exclude={"pipeline_definition"}))
    events = [
        StepStatusChanged.model_validate_json(data)
        for subject, data in seen
        if b'"step_status_changed"' in data
    ]
    assert events and len({e.event_id for e in events}) == len(events)
    assert all(len(e.event_id) == 32 for e in events)


async def test_a_report_s_answer_comes_before_its_decision_s_messages(
    database_url: str, nc: Client, bus: BusNames, tmp_path: Path, monkeypatch: Any
) -> None:
    """The answer handing a chain's next step over is on the chain's critical
    path; the events of the same decision are not: the outbox lets the answer
    go first (both are written to the same NATS connection, in this order)."""
    order: list[str] = []
    send = Outbox._send

    async def recorded(self: Outbox, message: OutMessage) -> Any:
        order.append("message")
        return await send(self, message)

    monkeypatch.setattr(Outbox, "_send", recorded)
    started: asyncio.Queue[StepStatusChanged] = asyncio.Queue()

    async def on_event(msg: Any) -> None:
        event = json.loads(msg.data)
        if event.get("status") == "STARTED" and event.get("step_uuid") == "s0":
            started.put_nowait(event)

    async with run_handling(database_url, nc, bus) as runs:
        run = await runs.create(chain(tmp_path, 2))
        sub = await nc.subscribe(bus.run_events(run.uuid), cb=on_event)
        claim = ClaimStep(run_uuid=run.uuid, step_uuid="s0", attempt=1, runner_id="r")
        assert (await runs.claim(claim)).granted
        await asyncio.wait_for(started.get(), 10)  # the claim's messages are out
        await sub.unsubscribe()
        order.clear()
        report = StepAttemptFinished(
            run_uuid=run.uuid, step_uuid="s0", attempt=1, status=StepStatus.SUCCESS, runner_id="r"
        )
        answer = await runs.report(ReportAttempt(report=report, next_lease_seconds=30))
        order.append("answer")
    assert answer.work is not None and answer.work.step_uuid == "s1"
    assert order[0] == "answer", order
