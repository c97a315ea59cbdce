"""A runner that reports an interactive attempt keeps its slot, and a step of
the run that is ready is granted to it in the report's answer: no claim, no
work message, the grant durable in the same commit as the report's decision.
Job work frees its slot instead (interactive work waiting must get it first).
At most ``MAX_QUEUED`` attempts of a run wait in the work queue: a wide
fan-out's other steps are handed over.

A handed attempt's runner killed mid-step is in ``tests/faults``
(``test_runner_killed.py``: the diamond's ``b`` is handed to the runner that
ran ``a``; only the lease sweep can end it).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from runs_harness import Project, Stack, event_log, notebook

from orchest_scheduler.run_state import MAX_QUEUED
from orchest_schemas.events import AnyEvent, RunStatusChanged, StepStatusChanged
from orchest_schemas.status import Priority, StepStatus
from support import eventually

CHAIN = ["a", "b", "c", "d", "e"]


@pytest.fixture(scope="module")
def stack(module_stack: Stack) -> Stack:
    return module_stack


def chain(project: Project) -> None:
    parents: tuple[str, ...] = ()
    for key in CHAIN:
        project.step(key, f"{key}.sh", f"echo {key}\n", parents=parents)
        parents = (key,)


@asynccontextmanager
async def bus_traffic(stack: Stack) -> AsyncIterator[dict[str, list[dict[str, Any]]]]:
    """The claims and the work messages (of both priorities) sent meanwhile,
    as they went over NATS."""
    seen: dict[str, list[dict[str, Any]]] = {"claims": [], "work": []}

    def keep(kind: str) -> Callable[[Any], Any]:
        async def on_msg(msg: Any) -> None:
            seen[kind].append(json.loads(msg.data))

        return on_msg

    subs = [await stack.nc.subscribe(stack.bus.claim_step, cb=keep("claims"))]
    for priority in Priority:
        subs.append(await stack.nc.subscribe(stack.bus.step_work(priority), cb=keep("work")))
    try:
        yield seen
    finally:
        for sub in subs:
            await sub.unsubscribe()


async def run_to_success(
    stack: Stack, project: Project
) -> tuple[str, list[AnyEvent], dict[str, list[dict[str, Any]]]]:
    """Run the project's pipeline to its end, which must be ``SUCCESS``: the
    run, its events, and the claims and work messages sent meanwhile."""
    async with bus_traffic(stack) as seen:
        created = await stack.start_run(project.body())
        run: str = created["uuid"]
        events = await stack.events(run)
        await stack.nc.flush()
    assert isinstance(events[-1], RunStatusChanged)
    assert events[-1].status.value == "SUCCESS"
    return run, events, seen


def of_run(messages: list[dict[str, Any]], run_uuid: str) -> list[str]:
    return [m["step_uuid"] for m in messages if m["run_uuid"] == run_uuid]


async def test_a_chain_after_its_first_step_runs_on_attempts_handed_over_in_report_answers(
    stack: Stack, tmp_path: Path
) -> None:
    project = Project(tmp_path / "project")
    chain(project)
    run, events, seen = await run_to_success(stack, project)
    # Only the first step went through the work queue and a claim.
    assert of_run(seen["work"], run) == ["a"]
    assert of_run(seen["claims"], run) == ["a"]
    changes = [
        (e.step_uuid, e.status, e.attempt)
        for e in events
        if isinstance(e, StepStatusChanged) and e.status is not StepStatus.PENDING
    ]
    expected = []
    for key in CHAIN:
        expected += [(key, StepStatus.STARTED, 1), (key, StepStatus.SUCCESS, 1)]
    assert changes == expected  # each step started once, after its parent ended
    runners = {
        e.runner_id
        for e in events
        if isinstance(e, StepStatusChanged) and e.status is not StepStatus.PENDING
    }
    assert len(runners) == 1 and None not in runners
    # The handed attempts were leased like claimed ones (the sweep can end them).
    conn = await asyncpg.connect(stack.database_url)
    try:
        rows = await conn.fetch(
            "SELECT step_uuid, runner_id, lease_seconds FROM scheduler.run_steps"
            " WHERE run_uuid = $1",
            run,
        )
    finally:
        await conn.close()
    assert sorted(r["step_uuid"] for r in rows) == CHAIN
    assert {r["runner_id"] for r in rows} == runners
    leases = {r["lease_seconds"] for r in rows}  # the claim's, then the handed ones'
    assert len(leases) == 1 and leases.pop() > 0


async def test_a_jobs_steps_each_go_through_the_queue_and_a_claim(
    stack: Stack, tmp_path: Path
) -> None:
    project = Project(tmp_path / "project")
    chain(project)
    async with bus_traffic(stack) as seen:
        response = await stack.http.post("/api/jobs", json=project.job_body())
        assert response.status_code == 201, response.text
        job = response.json()["uuid"]

        async def the_run() -> str | None:
            answer = await stack.http.get(f"/api/jobs/{job}/runs")
            runs = answer.json()["runs"]
            return runs[0]["uuid"] if runs else None

        run = await eventually(the_run, timeout=30, what="the job's run")
        async with event_log(stack, stack.bus.run_events(run)) as log:
            await log.wait_for(
                lambda events: any(
                    isinstance(e, RunStatusChanged) and e.status.is_final for e in events
                ),
                what="the job's run ended",
            )
        await stack.nc.flush()
    final = (await stack.http.get(f"/api/runs/{run}")).json()
    assert final["status"] == "SUCCESS"
    assert of_run(seen["work"], run) == CHAIN
    assert of_run(seen["claims"], run) == CHAIN


async def test_a_wide_fan_out_flows_mostly_by_hand_offs_each_step_once(
    stack: Stack, tmp_path: Path
) -> None:
    project = Project(tmp_path / "project")
    width = MAX_QUEUED + 24
    for i in range(width):
        project.step(f"s{i:03d}", "s.sh", "echo s\n")
    run, events, seen = await run_to_success(stack, project)
    started = [
        e.step_uuid
        for e in events
        if isinstance(e, StepStatusChanged) and e.status is StepStatus.STARTED
    ]
    assert sorted(started) == sorted(project.steps)  # each step started once
    queued = of_run(seen["work"], run)
    # At most MAX_QUEUED waited in the queue at once: those queued at the
    # start, and one more for each claim while steps were held.
    assert len(queued) < width
    assert sorted(of_run(seen["claims"], run)) == sorted(queued)  # each claimed once


async def test_a_notebook_step_frees_its_slot_its_child_goes_through_the_queue(
    stack: Stack, tmp_path: Path
) -> None:
    """A chain of notebooks kept on one runner would drain that runner's warm
    kernels; through the queue each step goes to whichever runner asks first."""
    project = Project(tmp_path / "project")
    project.step("n1", "n1.ipynb", notebook("print(1)"))
    project.step("s", "s.sh", "echo s\n", parents=("n1",))
    project.step("n2", "n2.ipynb", notebook("print(2)"), parents=("s",))
    run, _, seen = await run_to_success(stack, project)
    # n1 (a notebook) freed its slot: s went through the queue; s kept its
    # slot, so n2 was handed over.
    assert of_run(seen["work"], run) == ["n1", "s"]
    assert of_run(seen["claims"], run) == ["n1", "s"]
