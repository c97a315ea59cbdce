"""Interactive runs end to end, in process: gateway -> scheduler -> runner ->
real processes and kernels, on real NATS and Postgres."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from datetime import datetime
from typing import Any

import asyncpg
import psutil
import pytest
from runs_harness import Project, Stack, notebook, whole_stack
from sse_client import frames

from orchest_schemas.events import RunStatusChanged, StepStatusChanged
from support import eventually


@pytest.fixture(scope="module")
def stack(module_stack: Stack) -> Stack:
    """One stack for the module's tests: each runs its own pipeline (a new
    uuid) to its end and reads back only its own runs; the two scheduler
    replicas' test starts a stack of its own."""
    return module_stack


def ok(name: str) -> str:
    return f"echo {name} ran\n"


def statuses(run: dict[str, Any]) -> dict[str, str]:
    return {s["step_uuid"]: s["status"] for s in run["pipeline_steps"]}


def times(run: dict[str, Any]) -> dict[str, tuple[datetime, datetime]]:
    return {
        s["step_uuid"]: (
            datetime.fromisoformat(s["started_time"]),
            datetime.fromisoformat(s["finished_time"]),
        )
        for s in run["pipeline_steps"]
        if s["started_time"]
    }


def diamond(project: Project) -> None:
    project.step("a", "a.sh", ok("a"))
    project.step("b", "b.sh", ok("b"), ("a",))
    project.step("c", "c.sh", ok("c"), ("a",))
    project.step("d", "d.sh", ok("d"), ("b", "c"))
    project.step("e", "e.sh", ok("e"))  # a disconnected part


@pytest.mark.parametrize(
    ("run_type", "uuids", "expected"),
    [
        ("full", [], {"a", "b", "c", "d", "e"}),
        ("selection", ["b", "d"], {"b", "d"}),
        ("incoming", ["d"], {"a", "b", "c"}),
        ("selection_with_ancestors", ["b"], {"a", "b"}),
        ("downstream", ["c"], {"c", "d"}),
    ],
)
async def test_each_run_type_runs_exactly_its_steps(
    stack: Stack, project: Project, run_type: str, uuids: list[str], expected: set[str]
) -> None:
    diamond(project)
    created = await stack.start_run(project.body(run_type, uuids))
    assert {s["step_uuid"] for s in created["pipeline_steps"]} == expected
    assert created["status"] in ("PENDING", "STARTED")
    await stack.events(created["uuid"])
    run = (await stack.http.get(f"/api/runs/{created['uuid']}")).json()
    assert run["status"] == "SUCCESS"
    assert statuses(run) == dict.fromkeys(expected, "SUCCESS")


async def test_no_step_starts_before_all_its_parents_finished(
    stack: Stack, project: Project
) -> None:
    diamond(project)
    project.step("f", "f.sh", ok("f"), ("d", "e"))
    run = await stack.run_to_end(project.body())
    assert run["status"] == "SUCCESS"
    spans = times(run)
    parents = {k: v["incoming_connections"] for k, v in project.steps.items()}
    for step, (started, _) in spans.items():
        for parent in parents[step]:
            assert started >= spans[parent][1], f"{step} started before {parent} finished"
    assert [s["step_uuid"] for s in run["pipeline_steps"]].index("a") < [
        s["step_uuid"] for s in run["pipeline_steps"]
    ].index("d")


async def test_independent_branches_really_overlap(stack: Stack, project: Project) -> None:
    # b and c each wait for the other to have started: only parallel runs finish.
    rendezvous = 'touch "{me}"; for i in $(seq 200); do [ -e "{other}" ] && exit 0; sleep 0.05; done; exit 7\n'
    b_flag, c_flag = project.root / "b.started", project.root / "c.started"
    project.step("a", "a.sh", ok("a"))
    project.step("b", "b.sh", rendezvous.format(me=b_flag, other=c_flag), ("a",))
    project.step("c", "c.sh", rendezvous.format(me=c_flag, other=b_flag), ("a",))
    run = await stack.run_to_end(project.body())
    assert statuses(run) == {"a": "SUCCESS", "b": "SUCCESS", "c": "SUCCESS"}
    (b_start, b_end), (c_start, c_end) = times(run)["b"], times(run)["c"]
    assert b_start < c_end and c_start < b_end


async def test_failure_aborts_descendants_and_other_branches_go_on(
    stack: Stack, project: Project
) -> None:
    project.step("a", "a.sh", "echo failing >&2; exit 3\n")
    project.step("b", "b.sh", ok("b"), ("a",))
    project.step("c", "c.sh", ok("c"), ("b",))
    project.step("x", "x.sh", ok("x"))
    project.step("y", "y.sh", ok("y"), ("x",))
    run = await stack.run_to_end(project.body())
    assert run["status"] == "FAILURE"
    assert statuses(run) == {
        "a": "FAILURE",
        "b": "ABORTED",
        "c": "ABORTED",
        "x": "SUCCESS",
        "y": "SUCCESS",
    }
    failed = next(s for s in run["pipeline_steps"] if s["step_uuid"] == "a")
    assert failed["exit_code"] == 3 and "3" in failed["error"]


async def test_fail_fast_kills_the_running_branch(stack: Stack, project: Project) -> None:
    pid_file = project.root / "slow.pid"
    project.settings = {"fail_fast": True}
    project.step("slow", "slow.sh", f'echo $$ > "{pid_file}"; sleep 60\n')
    project.step("bad", "bad.sh", f'while [ ! -s "{pid_file}" ]; do sleep 0.05; done; exit 1\n')
    run = await stack.run_to_end(project.body())
    assert run["status"] == "FAILURE"
    assert statuses(run) == {"slow": "ABORTED", "bad": "FAILURE"}
    await _gone(int(pid_file.read_text()), within=5)


async def test_timeout_fails_the_step(stack: Stack, project: Project) -> None:
    project.step("t", "t.sh", "echo start; sleep 60\n", timeout_seconds=1)
    run = await stack.run_to_end(project.body())
    step = run["pipeline_steps"][0]
    assert step["status"] == "FAILURE" and "timed out" in step["error"]


async def test_retries_number_their_attempts(stack: Stack, project: Project) -> None:
    counter = project.root / "count"
    project.settings = {"retry_backoff_seconds": 0.05}
    script = f'n=$(cat "{counter}" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "{counter}"; echo attempt $n; [ $n -ge 3 ]\n'
    project.step("r", "r.sh", script, retries=2)
    created = await stack.start_run(project.body())
    events = await stack.events(created["uuid"])
    run = (await stack.http.get(f"/api/runs/{created['uuid']}")).json()
    assert run["status"] == "SUCCESS" and run["pipeline_steps"][0]["attempt"] == 3
    trail = [(e.attempt, e.status.value) for e in events if isinstance(e, StepStatusChanged)]
    assert trail == [
        (1, "PENDING"),
        (1, "STARTED"),
        (1, "FAILURE"),
        (2, "PENDING"),
        (2, "STARTED"),
        (2, "FAILURE"),
        (3, "PENDING"),
        (3, "STARTED"),
        (3, "SUCCESS"),
    ]
    logs = await stack.http.get(f"/api/runs/{created['uuid']}/steps/r/logs")
    assert "attempt 1" in logs.text and "----- attempt 3 -----" in logs.text


async def test_retries_exhausted_fail_the_step(stack: Stack, project: Project) -> None:
    project.settings = {"retries": 1, "retry_backoff_seconds": 0.05}
    project.step("r", "r.sh", "exit 1\n")
    run = await stack.run_to_end(project.body())
    assert run["status"] == "FAILURE" and run["pipeline_steps"][0]["attempt"] == 2


@pytest.mark.parametrize("kind", ["shell", "notebook"])
async def test_abort_kills_the_running_step(stack: Stack, project: Project, kind: str) -> None:
    pid_file = project.root / "step.pid"
    if kind == "shell":
        project.step("s", "s.sh", f'echo $$ > "{pid_file}"; sleep 300\n')
    else:
        project.step(
            "s",
            "s.ipynb",
            notebook(
                f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(300)"  # wait-ok: the step's work, killed by the abort
            ),
        )
    project.step("after", "after.sh", ok("after"), ("s",))
    created = await stack.start_run(project.body())

    async def pid_written() -> int | None:
        text = pid_file.read_text() if pid_file.exists() else ""
        return int(text) if text.strip() else None

    pid = await eventually(pid_written, timeout=30, what="the step wrote its pid")
    response = await stack.http.delete(f"/api/runs/{created['uuid']}")
    assert response.status_code == 200
    assert response.json()["status"] == "ABORTED"
    await stack.events(created["uuid"], timeout=10)
    await _gone(pid, within=5)
    run = (await stack.http.get(f"/api/runs/{created['uuid']}")).json()
    assert run["status"] == "ABORTED"
    assert statuses(run) == {"s": "ABORTED", "after": "ABORTED"}
    again = await stack.http.delete(f"/api/runs/{created['uuid']}")
    assert again.status_code == 200 and again.json()["status"] == "ABORTED"


async def test_abort_of_an_unknown_run_is_404(stack: Stack) -> None:
    response = await stack.http.delete("/api/runs/00000000-0000-4000-8000-000000000000")
    assert response.status_code == 404
    assert set(response.json()) == {"message", "errors"}


async def test_idempotency_key_gives_the_same_run(stack: Stack, project: Project) -> None:
    project.step("a", "a.sh", ok("a"))
    body = project.body(idempotency_key="same-key-1")
    first, second = await asyncio.gather(
        stack.http.post("/api/runs", json=body), stack.http.post("/api/runs", json=body)
    )
    third = await stack.http.post("/api/runs", json=body)
    assert {first.status_code, second.status_code, third.status_code} == {201}
    assert first.json()["uuid"] == second.json()["uuid"] == third.json()["uuid"]
    listed = (await stack.http.get("/api/runs", params={"pipeline_uuid": project.uuid})).json()
    assert listed["total"] == 1


async def test_notebook_step_gets_parameters_and_keeps_the_executed_notebook(
    stack: Stack, project: Project
) -> None:
    project.parameters = {"greeting": "hello", "n": 1}
    project.step(
        "nb",
        "notebooks/nb.ipynb",
        notebook(
            "import os\nprint(greeting, n, os.getcwd().endswith('notebooks'), os.environ['ORCHEST_STEP_UUID'])",
            parameters_cell="greeting = 'default'\nn = 0",
        ),
        parameters={"n": 42},
    )
    run = await stack.run_to_end(project.body())
    step = run["pipeline_steps"][0]
    assert step["status"] == "SUCCESS", step
    assert step["artifacts"] == ["executed.ipynb"]
    logs = await stack.http.get(f"/api/runs/{run['uuid']}/steps/nb/logs")
    assert "hello 42 True nb" in logs.text
    artifact = await stack.http.get(f"/api/runs/{run['uuid']}/steps/nb/artifacts/executed.ipynb")
    assert artifact.status_code == 200 and "hello 42 True nb" in artifact.text


async def test_logs_follow_streams_until_the_step_ends(stack: Stack, project: Project) -> None:
    gate = project.root / "gate"
    project.step(
        "s", "s.sh", f'echo first; while [ ! -e "{gate}" ]; do sleep 0.05; done; echo second\n'
    )
    created = await stack.start_run(project.body())
    received = ""
    async with stack.http.stream(
        "GET", f"/api/runs/{created['uuid']}/steps/s/logs", params={"follow": "true"}
    ) as response:
        assert response.status_code == 200
        async for text in response.aiter_text():
            received += text
            if "first" in received and not gate.exists():
                gate.touch()  # the step goes on only once we saw its first line
    assert received.index("first") < received.index("second")


async def test_sse_delivers_every_change_in_order_and_resumes(
    stack: Stack, project: Project
) -> None:
    diamond(project)
    created = await stack.start_run(project.body())
    events = await stack.events(created["uuid"])
    sequences = [getattr(e, "sequence", None) for e in events]
    assert sequences == list(range(1, len(events) + 1))

    async def read_sse(
        headers: dict[str, str], by: dict[str, str] | None = None
    ) -> list[tuple[int, str, str]]:
        got: list[tuple[int, str, str]] = []
        async with stack.http.stream(
            "GET",
            "/api/events",
            params={**(by or {"run_uuid": created["uuid"]}), "replay": "true"},
            headers=headers,
        ) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            async for frame in frames(response):
                got.append((frame.id or 0, frame.event, frame.data))
                if frame.event == "run_status_changed" and '"SUCCESS"' in frame.data:
                    return got
        return got

    everything = await asyncio.wait_for(read_sse({}), 30)
    assert [e[2] for e in everything] == [e.model_dump_json() for e in events]
    ids = [e[0] for e in everything]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    middle = len(everything) // 2
    resumed = await asyncio.wait_for(read_sse({"Last-Event-ID": str(ids[middle])}), 30)
    # The pipeline filter gives the same events (the pipeline has this one run).
    by_pipeline = await asyncio.wait_for(read_sse({}, {"pipeline_uuid": project.uuid}), 30)
    assert by_pipeline == everything
    assert resumed == everything[middle + 1 :]
    assert isinstance(events[-1], RunStatusChanged) and events[-1].status.value == "SUCCESS"


async def test_runs_are_listed_filtered_and_paginated(stack: Stack, project: Project) -> None:
    project.step("a", "a.sh", ok("a"))
    failing = Project(project.root, uuid=project.uuid)
    failing.step("z", "z.sh", "exit 1\n")
    for body in (project.body(), project.body(), failing.body()):
        await stack.run_to_end(body)
    everything = (await stack.http.get("/api/runs", params={"pipeline_uuid": project.uuid})).json()
    assert everything["total"] == 3
    failed = (
        await stack.http.get(
            "/api/runs", params={"pipeline_uuid": project.uuid, "status": "FAILURE"}
        )
    ).json()
    assert failed["total"] == 1 and failed["runs"][0]["status"] == "FAILURE"
    page = (
        await stack.http.get(
            "/api/runs", params={"pipeline_uuid": project.uuid, "limit": 2, "offset": 2}
        )
    ).json()
    assert len(page["runs"]) == 1
    assert (await stack.http.get("/api/runs", params={"limit": 0})).status_code == 422
    assert (await stack.http.get("/api/runs", params={"status": "NOPE"})).status_code == 422


async def _gone(pid: int, within: float) -> None:
    async def dead() -> bool | None:
        try:
            return True if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE else None
        except psutil.NoSuchProcess:
            return True

    await eventually(dead, timeout=within, what=f"process {pid} gone")


async def count_runs(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        count: int = await conn.fetchval("SELECT count(*) FROM scheduler.runs")
        return count
    finally:
        await conn.close()


__all__ = ["count_runs", "os"]


async def test_runs_finish_with_two_scheduler_replicas(
    service_settings: Callable[..., Any], project: Project
) -> None:
    """Claims and reports of one run land on either replica: a replica whose
    cached state another one moved on must not take a report for stale."""
    async with whole_stack(service_settings, schedulers=2) as stack:
        diamond(project)
        runs = [await stack.start_run(project.body()) for _ in range(8)]
        for run in runs:
            await stack.events(run["uuid"], timeout=30)
            final = (await stack.http.get(f"/api/runs/{run['uuid']}")).json()
            assert final["status"] == "SUCCESS"
            assert set(statuses(final).values()) == {"SUCCESS"}
