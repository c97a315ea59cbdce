"""Jobs end to end, in process: gateway -> scheduler(s) -> runner -> real
processes, on real NATS and Postgres, with the scheduler's clock moved by the
test (``ManualClock``) where schedules matter."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from runs_harness import EventLog, Project, Stack, event_log, whole_stack

from orchest_scheduler.clock import ManualClock
from orchest_schemas.events import AnyEvent, JobStatusChanged, RunStatusChanged, StepStatusChanged
from support import eventually

T0 = datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC)

PRINT_PARAMETERS = "import os\nprint('PARAMETERS=' + os.environ['ORCHEST_PARAMETERS'])\n"

WAIT_FOR_GATE = """\
import json, os, pathlib, time
i = json.loads(os.environ["ORCHEST_PARAMETERS"]).get("i")
gate = pathlib.Path(os.environ["GATE_DIR"])
while not (gate / str(i)).exists() and not (gate / "all").exists():
    time.sleep(0.02)  # wait-ok: the step's own work is to wait for the test
print("passed gate", i)
"""


@pytest.fixture
def gate(tmp_path: Path) -> Path:
    path = tmp_path / "gate"
    path.mkdir()
    return path


def grid_of(values: list[int]) -> list[dict[str, Any]]:
    return [{"pipeline_parameters": {"i": i}} for i in values]


async def create_job(stack: Stack, body: dict[str, Any]) -> dict[str, Any]:
    response = await stack.http.post("/api/jobs", json=body)
    assert response.status_code == 201, response.text
    job: dict[str, Any] = response.json()
    return job


async def job_runs(stack: Stack, job_uuid: str, **query: Any) -> list[dict[str, Any]]:
    response = await stack.http.get(f"/api/jobs/{job_uuid}/runs", params={"limit": 500, **query})
    assert response.status_code == 200, response.text
    runs: list[dict[str, Any]] = response.json()["runs"]
    return runs


async def get_job(stack: Stack, job_uuid: str) -> dict[str, Any]:
    response = await stack.http.get(f"/api/jobs/{job_uuid}")
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()
    return job


async def update_job(stack: Stack, job_uuid: str, **changes: Any) -> dict[str, Any]:
    response = await stack.http.put(f"/api/jobs/{job_uuid}", json=changes)
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()
    return job


async def step_log(stack: Stack, run_uuid: str, step_uuid: str) -> str:
    response = await stack.http.get(f"/api/runs/{run_uuid}/steps/{step_uuid}/logs")
    assert response.status_code == 200, response.text
    return response.text


def job_status(events: list[AnyEvent], job_uuid: str) -> str | None:
    found = [e for e in events if isinstance(e, JobStatusChanged) and e.job_uuid == job_uuid]
    return found[-1].status.value if found else None


def executions(events: list[AnyEvent], job_uuid: str) -> int:
    found = [e for e in events if isinstance(e, JobStatusChanged) and e.job_uuid == job_uuid]
    return max((e.total_scheduled_executions for e in found), default=0)


def ended_runs(events: list[AnyEvent], job_uuid: str | None = None) -> list[RunStatusChanged]:
    """Run ends, once each (a job's run's events also come under the job's subject)."""
    seen: dict[str, RunStatusChanged] = {}
    for e in events:
        final = isinstance(e, RunStatusChanged) and e.status.is_final
        if final and (job_uuid is None or e.job_uuid == job_uuid):
            seen.setdefault(e.run_uuid, e)
    return list(seen.values())


async def until_job(log: EventLog, job_uuid: str, *statuses: str) -> list[AnyEvent]:
    return await log.wait_for(
        lambda events: job_status(events, job_uuid) in statuses,
        what=f"job {job_uuid} {statuses}",
    )


# -- parameters ----------------------------------------------------------------------


async def test_a_parameter_grid_runs_once_per_set_with_its_parameters(
    stack: Stack, project: Project
) -> None:
    project.parameters = {"alpha": 0, "beta": "kept"}
    project.step("s", "s.py", PRINT_PARAMETERS, parameters={"gamma": "default"})
    grid = [
        {"pipeline_parameters": {"alpha": alpha}, "s": {"gamma": gamma}}
        for alpha in (1, 2, 3)
        for gamma in ("x", "y")
    ]
    job = await create_job(stack, project.job_body(parameters=grid))
    assert job["status"] == "PENDING"
    async with event_log(stack, stack.bus.job_events(job["uuid"])) as log:
        await until_job(log, job["uuid"], "SUCCESS")
    runs = await job_runs(stack, job["uuid"])
    assert len(runs) == 6
    assert sorted(r["job_run_pipeline_run_index"] for r in runs) == list(range(6))
    for run in runs:
        assert run["status"] == "SUCCESS"
        assert run["job_run_index"] == 1
        chosen = grid[run["job_run_pipeline_run_index"]]
        assert run["parameters"] == chosen
        line = next(
            x for x in (await step_log(stack, run["uuid"], "s")).splitlines() if "PARAMETERS=" in x
        )
        seen = json.loads(line.split("=", 1)[1])
        assert seen == {
            "alpha": chosen["pipeline_parameters"]["alpha"],
            "beta": "kept",
            "gamma": chosen["s"]["gamma"],
        }
    final = await get_job(stack, job["uuid"])
    assert final["run_counts"] == {"SUCCESS": 6}
    assert final["total_scheduled_executions"] == 1
    assert final["next_scheduled_time"] is None


async def test_a_job_is_refused_with_every_problem_and_nothing_written(
    stack: Stack, project: Project
) -> None:
    project.step("s", "s.py", PRINT_PARAMETERS)
    body = project.job_body(
        parameters=[{"pipeline_parameters": {"a": 1}, "nope": {"b": 2}}],
        schedule={"cron_schedule": "61 * * * *"},
        pipeline_run_spec={"run_type": "selection", "uuids": ["missing"]},
    )
    response = await stack.http.post("/api/jobs", json=body)
    assert response.status_code == 422, response.text
    kinds = {e["type"] for e in response.json()["errors"]}
    assert {"cron_invalid", "unknown_step"} <= kinds
    assert len(response.json()["errors"]) >= 3
    listed = await stack.http.get("/api/jobs")
    assert listed.json()["total"] == 0
    assert not any(stack.jobs_dir.iterdir())


# -- schedules: cron with two replicas, pause, resume, trigger ----------------------------


async def test_cron_ticks_fire_once_each_with_two_scheduler_replicas(
    service_settings: Callable[..., Any], project: Project
) -> None:
    clock = ManualClock(T0)
    async with whole_stack(service_settings, schedulers=2, clock=clock) as stack:
        project.step("s", "s.sh", "echo tick\n")
        job = await create_job(
            stack,
            project.job_body(parameters=grid_of([0, 1]), schedule={"cron_schedule": "* * * * *"}),
        )
        assert job["next_scheduled_time"] == "2026-01-01T00:01:00Z"
        async with event_log(stack, stack.bus.job_events(job["uuid"])) as log:
            for minute in (1, 2, 3):
                await clock.set(T0.replace(minute=minute, second=0))
                await log.wait_for(
                    lambda events, n=minute: executions(events, job["uuid"]) == n,
                    what=f"execution {minute}",
                )
            # Ten minutes missed at once (everything was down): one execution.
            await clock.set(T0.replace(minute=13))
            await log.wait_for(
                lambda events: executions(events, job["uuid"]) == 4, what="catch-up execution"
            )
            await log.wait_for(
                lambda events: len(ended_runs(events, job["uuid"])) == 8, what="8 runs ended"
            )
        runs = await job_runs(stack, job["uuid"])
        places = sorted((r["job_run_index"], r["job_run_pipeline_run_index"]) for r in runs)
        assert places == [(n, p) for n in (1, 2, 3, 4) for p in (0, 1)]
        assert {r["status"] for r in runs} == {"SUCCESS"}
        final = await get_job(stack, job["uuid"])
        assert final["total_scheduled_executions"] == 4
        assert final["last_scheduled_time"] == "2026-01-01T00:04:00Z"  # the first missed tick
        assert final["next_scheduled_time"] == "2026-01-01T00:14:00Z"
        assert final["status"] == "STARTED"


async def test_pause_skips_ticks_resume_goes_on_trigger_runs_now(
    service_settings: Callable[..., Any], project: Project
) -> None:
    clock = ManualClock(T0)
    async with whole_stack(service_settings, clock=clock) as stack:
        project.step("s", "s.sh", "echo hourly\n")
        hourly = {"cron_schedule": "0 * * * *"}
        job = await create_job(stack, project.job_body(schedule=hourly))
        witness = await create_job(stack, project.job_body(name="witness", schedule=hourly))
        paused = await update_job(stack, job["uuid"], paused=True)
        assert paused["status"] == "PAUSED"
        async with event_log(stack) as log:
            await clock.set(T0.replace(hour=1, minute=0, second=5))
            # The witness's tick fired and ran: the ticker has passed 01:00.
            await log.wait_for(
                lambda events: len(ended_runs(events, witness["uuid"])) == 1, what="witness ran"
            )
            assert (await get_job(stack, job["uuid"]))["total_scheduled_executions"] == 0

            resumed = await update_job(stack, job["uuid"], paused=False)
            assert resumed["status"] == "PENDING"
            assert resumed["next_scheduled_time"] == "2026-01-01T02:00:00Z"  # 01:00 skipped

            triggered = await stack.http.post(f"/api/jobs/{job['uuid']}/trigger")
            assert triggered.status_code == 200, triggered.text
            assert triggered.json()["total_scheduled_executions"] == 1
            await log.wait_for(
                lambda events: len(ended_runs(events, job["uuid"])) == 1, what="triggered run"
            )
            await clock.set(T0.replace(hour=2, minute=0, second=1))
            await log.wait_for(
                lambda events: len(ended_runs(events, job["uuid"])) == 2, what="02:00 run"
            )
        runs = await job_runs(stack, job["uuid"])
        assert sorted(r["job_run_index"] for r in runs) == [1, 2]
        assert (await get_job(stack, job["uuid"]))["next_scheduled_time"] == (
            "2026-01-01T03:00:00Z"
        )


async def test_cancel_one_run_then_the_job(
    service_settings: Callable[..., Any], project: Project, gate: Path
) -> None:
    async with whole_stack(service_settings, job_slots=4) as stack:
        await _cancel_one_run_then_the_job(stack, project, gate)


async def _cancel_one_run_then_the_job(stack: Stack, project: Project, gate: Path) -> None:
    project.step("s", "s.py", WAIT_FOR_GATE)
    body = project.job_body(parameters=grid_of([0, 1, 2]), env_variables={"GATE_DIR": str(gate)})
    job = await create_job(stack, body)
    async with event_log(stack, stack.bus.job_events(job["uuid"])) as log:
        await log.wait_for(
            lambda events: (
                len(
                    {
                        e.run_uuid
                        for e in events
                        if isinstance(e, RunStatusChanged) and e.status.value == "STARTED"
                    }
                )
                == 3
            ),
            what="3 runs started",
        )
        runs = {r["job_run_pipeline_run_index"]: r for r in await job_runs(stack, job["uuid"])}
        aborted = await stack.http.delete(f"/api/jobs/{job['uuid']}/runs/{runs[0]['uuid']}")
        assert aborted.status_code == 200, aborted.text
        await log.wait_for(lambda events: len(ended_runs(events)) == 1, what="run 0 aborted")
        (gate / "1").touch()
        await log.wait_for(lambda events: len(ended_runs(events)) == 2, what="run 1 ended")

        cancelled = await stack.http.delete(f"/api/jobs/{job['uuid']}")
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "ABORTED"
        events = await log.wait_for(lambda events: len(ended_runs(events)) == 3, what="all ended")
    by_run = {e.run_uuid: e.status.value for e in ended_runs(events)}
    assert by_run == {
        runs[0]["uuid"]: "ABORTED",
        runs[1]["uuid"]: "SUCCESS",
        runs[2]["uuid"]: "ABORTED",
    }
    kept = await job_runs(stack, job["uuid"])
    assert len(kept) == 3  # history kept
    again = await stack.http.post(f"/api/jobs/{job['uuid']}/trigger")
    assert again.status_code == 409
    wrong = await stack.http.delete(f"/api/jobs/{job['uuid']}/runs/{job['uuid']}")
    assert wrong.status_code == 404


# -- snapshot and retention -----------------------------------------------------------


async def test_runs_see_the_snapshot_not_later_edits_nor_each_other(
    service_settings: Callable[..., Any], project: Project
) -> None:
    clock = ManualClock(T0)
    async with whole_stack(service_settings, clock=clock) as stack:
        (project.root / "data.txt").write_text("as it was")
        (project.root / ".gitignore").write_text("scratch/\n*.tmp\n")
        (project.root / "scratch").mkdir()
        (project.root / "scratch" / "big.bin").write_bytes(b"x" * 1000)
        (project.root / "notes.tmp").write_text("ignored")
        script = (
            "import os, pathlib\n"
            "print('DATA=' + pathlib.Path('data.txt').read_text())\n"
            "print('OTHERS=' + str(pathlib.Path('out.txt').exists()))\n"
            "print('IGNORED=' + str(pathlib.Path('scratch').exists()"
            " or pathlib.Path('notes.tmp').exists()))\n"
            "pathlib.Path('out.txt').write_text('mine')\n"
        )
        project.step("s", "s.py", script)
        start = (T0 + timedelta(hours=1)).isoformat()
        job = await create_job(
            stack,
            project.job_body(
                parameters=grid_of([0, 1]),
                schedule={"scheduled_start": start},
                max_parallel_runs=1,
            ),
        )
        assert job["next_scheduled_time"] == "2026-01-01T01:00:30Z"
        (project.root / "data.txt").write_text("edited after the job was made")
        async with event_log(stack, stack.bus.job_events(job["uuid"])) as log:
            await clock.set(T0 + timedelta(hours=1))
            await until_job(log, job["uuid"], "SUCCESS")
        for run in await job_runs(stack, job["uuid"]):
            output = await step_log(stack, run["uuid"], "s")
            assert "DATA=as it was" in output
            assert "OTHERS=False" in output
            assert "IGNORED=False" in output
        assert not (project.root / "out.txt").exists()  # the project itself untouched


async def test_retention_deletes_ended_runs_beyond_the_window(
    stack: Stack, project: Project
) -> None:
    project.step("s", "s.sh", "echo kept or not > out.txt\n")
    job = await create_job(stack, project.job_body(max_retained_pipeline_runs=2))
    async with event_log(stack, stack.bus.job_events(job["uuid"])) as log:
        for n in (1, 2, 3):
            if n > 1:
                response = await stack.http.post(f"/api/jobs/{job['uuid']}/trigger")
                assert response.status_code == 200, response.text
            await log.wait_for(
                lambda events, n=n: len(ended_runs(events)) == n, what=f"run {n} ended"
            )
        first = next(e.run_uuid for e in ended_runs(log.events))
    workspace = stack.jobs_dir / job["uuid"] / "runs" / first

    async def pruned() -> bool | None:
        runs = await job_runs(stack, job["uuid"])
        return True if len(runs) == 2 and not workspace.exists() else None

    await eventually(pruned, timeout=20, what="the oldest run pruned")
    assert sorted(r["job_run_index"] for r in await job_runs(stack, job["uuid"])) == [2, 3]
    assert (await stack.http.get(f"/api/runs/{first}")).status_code == 404


# -- priority and fairness --------------------------------------------------------------


async def test_interactive_work_goes_before_waiting_job_work(
    service_settings: Callable[..., Any], project: Project, gate: Path, tmp_path: Path
) -> None:
    async with whole_stack(
        service_settings, slots=2, job_slots=2, job_max_parallel_runs=8
    ) as stack:
        project.step("s", "s.py", WAIT_FOR_GATE)
        body = project.job_body(
            parameters=grid_of(list(range(50))), env_variables={"GATE_DIR": str(gate)}
        )
        job = await create_job(stack, body)
        interactive_root = tmp_path / "interactive"
        interactive_root.mkdir()
        interactive = Project(interactive_root)
        interactive.step("now", "now.sh", "echo interactive\n")
        async with event_log(stack) as log:

            def job_steps_started(events: list[AnyEvent]) -> list[StepStatusChanged]:
                return [
                    e
                    for e in events
                    if isinstance(e, StepStatusChanged)
                    and e.status.value == "STARTED"
                    and e.pipeline_uuid == project.uuid
                ]

            events = await log.wait_for(
                lambda events: len(job_steps_started(events)) == 2, what="the runner full"
            )
            running = [e.run_uuid for e in job_steps_started(events)]
            run = await stack.start_run(interactive.body())
            # Its first event follows its work on the bus, behind 6 admitted
            # job steps' work; then one slot is freed.
            await log.wait_for(
                lambda events: any(
                    isinstance(e, StepStatusChanged) and e.run_uuid == run["uuid"] for e in events
                ),
                what="the interactive work published",
            )
            first = (await stack.http.get(f"/api/runs/{running[0]}")).json()
            (gate / str(first["parameters"]["pipeline_parameters"]["i"])).touch()
            await stack.events(run["uuid"])
            (gate / "all").touch()
            events = await until_job(log, job["uuid"], "SUCCESS")
    starts = [e for e in events if isinstance(e, StepStatusChanged) and e.status.value == "STARTED"]
    order = [e.run_uuid for e in starts]
    assert len(order) == 51
    assert order.index(run["uuid"]) == 2, "a waiting job step started before the interactive one"


async def test_two_jobs_both_progress_before_either_finishes(
    service_settings: Callable[..., Any], project: Project
) -> None:
    async with whole_stack(service_settings, max_parallel_job_runs=2) as stack:
        project.step("s", "s.sh", "echo quick\n")
        first = await create_job(
            stack, project.job_body("first", parameters=grid_of(list(range(12))))
        )
        second = await create_job(
            stack, project.job_body("second", parameters=grid_of(list(range(12))))
        )
        async with event_log(stack) as log:
            await until_job(log, first["uuid"], "SUCCESS")
            events = await until_job(log, second["uuid"], "SUCCESS")
    ends = [e.job_uuid for e in ended_runs(events)]
    assert len(ends) == 24
    last_of_first = len(ends) - 1 - ends[::-1].index(first["uuid"])
    last_of_second = len(ends) - 1 - ends[::-1].index(second["uuid"])
    assert ends.index(second["uuid"]) < last_of_first, "the second job waited for the first"
    assert ends.index(first["uuid"]) < last_of_second
    # Taking turns: after the second job arrived, neither ran far ahead.
    assert ends[4:16].count(first["uuid"]) >= 3 and ends[4:16].count(second["uuid"]) >= 3


# -- recovery ---------------------------------------------------------------------------


async def test_a_run_admitted_by_a_replica_that_died_is_started_by_the_sweep(
    service_settings: Callable[..., Any], project: Project, gate: Path
) -> None:
    clock = ManualClock(T0)
    async with whole_stack(
        service_settings, clock=clock, max_parallel_job_runs=1, job_sweep_seconds=0.2
    ) as stack:
        project.step("s", "s.py", WAIT_FOR_GATE)
        body = project.job_body(parameters=grid_of([0, 1]), env_variables={"GATE_DIR": str(gate)})
        job = await create_job(stack, body)
        async with event_log(stack, stack.bus.job_events(job["uuid"])) as log:
            await log.wait_for(
                lambda events: any(
                    isinstance(e, RunStatusChanged) and e.status.value == "STARTED" for e in events
                ),
                what="the first run going",
            )
            runs = {r["job_run_pipeline_run_index"]: r for r in await job_runs(stack, job["uuid"])}
            # A replica admitted run 1 (committed) and died before starting it.
            conn = await asyncpg.connect(stack.database_url)
            try:
                await conn.execute(
                    "UPDATE scheduler.runs SET admitted = true, admitted_time = $2 WHERE uuid = $1",
                    runs[1]["uuid"],
                    T0 - timedelta(hours=1),
                )
            finally:
                await conn.close()
            (gate / "1").touch()
            events = await log.wait_for(
                lambda events: len(ended_runs(events)) == 1, what="run 1 started and ended"
            )
            assert ended_runs(events)[0].run_uuid == runs[1]["uuid"]
            (gate / "0").touch()
            await until_job(log, job["uuid"], "SUCCESS")
