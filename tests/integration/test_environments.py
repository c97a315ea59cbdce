"""Environments (``docs/environments.md``): definitions as files of the
project, process builds (a venv, its setup script's ``pip install`` from
PyPI), their logs and events, a failing script, a cancel, and steps run in
the build, through the gateway, the scheduler, the session manager and a
step runner against the real servers."""

from __future__ import annotations

import asyncio
import glob
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from environments_kit import (
    PACKAGE,
    alive,
    build_end,
    create_env,
    log_of,
    new_project,
    run_step,
    session_kernel_runs,
)
from nats.aio.client import Client
from runs_harness import Project, Stack, notebook, whole_stack
from sse_client import read_events

from orchest_schemas.bus import BusNames
from orchest_schemas.environments import CancelBuild
from orchest_schemas.status import BuildStatus
from orchest_service.database import create_pool
from orchest_session_manager.builds import Builds
from support import eventually


@pytest.fixture
async def stack(service_settings: Callable[..., Any], tmp_path: Path) -> AsyncIterator[Stack]:
    async with whole_stack(
        service_settings, sessions={"environments_dir": tmp_path / "environments"}
    ) as s:
        yield s


# -- definitions ---------------------------------------------------------------------


async def test_an_environment_is_a_folder_of_the_project(stack: Stack) -> None:
    project = await new_project(stack)
    base = f"/api/projects/{project['uuid']}/environments"
    made = await create_env(stack, project["uuid"], name="Py", setup_script="echo hi\n")
    folder = Path(project["path"]) / ".orchest" / "environments" / made["uuid"]
    properties = json.loads((folder / "properties.json").read_text())
    assert properties["name"] == "Py" and properties["uuid"] == made["uuid"]
    assert properties["base_image"] == "orchest/base-kernel-py"
    assert properties["language"] == "python" and properties["gpu_support"] is False
    assert (folder / "setup_script.sh").read_text() == "echo hi\n"
    assert made["latest_build"]["status"] == "PENDING"

    changed = await stack.http.patch(f"{base}/{made['uuid']}", json={"setup_script": "true\n"})
    assert changed.status_code == 200, changed.text
    assert (folder / "setup_script.sh").read_text() == "true\n"
    assert changed.json()["latest_build"]["uuid"] != made["latest_build"]["uuid"]
    listed = (await stack.http.get(base)).json()["environments"]
    assert [(e["uuid"], e["name"]) for e in listed] == [(made["uuid"], "Py")]
    builds = (await stack.http.get(f"{base}/{made['uuid']}/builds")).json()["builds"]
    assert len(builds) == 2

    deleted = await stack.http.delete(f"{base}/{made['uuid']}")
    assert deleted.status_code == 200, deleted.text
    assert not folder.exists()
    gone = await stack.http.get(f"{base}/{made['uuid']}")
    assert gone.status_code == 404


async def test_a_bad_body_is_refused_listing_every_problem(stack: Stack) -> None:
    project = await new_project(stack)
    base = f"/api/projects/{project['uuid']}/environments"
    refused = await stack.http.post(
        base, json={"language": "cobol", "gpu_support": "maybe", "env_variables": {"1X": "v"}}
    )
    assert refused.status_code == 422, refused.text
    places = {tuple(e["loc"]) for e in refused.json()["errors"]}
    assert {("name",), ("language",), ("gpu_support",)} <= places, places
    assert any(p[0] == "env_variables" for p in places), places
    assert not (Path(project["path"]) / ".orchest").exists()


async def test_an_orchest_projects_environments_are_read_from_its_folder(
    stack: Stack, tmp_path: Path
) -> None:
    """A registered Orchest project brings its environments, by their uuids."""
    repo = tmp_path / "orchest-project"
    env_uuid = "3c6e3a1a-7b9f-4c1e-9f0e-1a2b3c4d5e6f"
    folder = repo / ".orchest" / "environments" / env_uuid
    folder.mkdir(parents=True)
    (folder / "properties.json").write_text(
        json.dumps(
            {
                "base_image": "orchest/base-kernel-r",
                "gpu_support": False,
                "language": "r",
                "name": "R env",
                "uuid": env_uuid,
            }
        )
    )
    (folder / "setup_script.sh").write_text("#!/bin/bash\nRscript -e 'install.packages(\"x\")'\n")
    broken = repo / ".orchest" / "environments" / "broken"
    broken.mkdir()
    (broken / "properties.json").write_text("{not json")
    response = await stack.http.post("/api/projects", json={"name": "orch", "path": str(repo)})
    assert response.status_code == 201, response.text
    project = response.json()["uuid"]
    listed = (await stack.http.get(f"/api/projects/{project}/environments")).json()
    by_uuid = {e["uuid"]: e for e in listed["environments"]}
    assert by_uuid[env_uuid]["name"] == "R env" and by_uuid[env_uuid]["language"] == "r"
    assert by_uuid[env_uuid]["base_image"] == "orchest/base-kernel-r"
    assert by_uuid[env_uuid]["problems"] == [] and by_uuid[env_uuid]["latest_build"] is None
    assert by_uuid["broken"]["problems"][0]["loc"] == ["properties.json"]
    # Its base is Orchest's R image: the build says what this stack lacks.
    started = await stack.http.post(f"/api/projects/{project}/environments/{env_uuid}/builds")
    assert started.status_code == 201, started.text
    ended = await build_end(stack, project, env_uuid, started.json()["uuid"], timeout=60)
    assert ended["status"] == "FAILURE"
    assert "no an R base image" in ended["reason"], ended
    refused = await stack.http.post(f"/api/projects/{project}/environments/broken/builds")
    assert refused.status_code == 422, refused.text


# -- process builds ------------------------------------------------------------------


async def test_a_process_environment_installs_with_pip_and_its_steps_use_it(
    stack: Stack, tmp_path: Path
) -> None:
    project = await new_project(stack)
    pid = project["uuid"]
    script = f"#!/bin/bash\nset -e\necho building in $PWD\npip install {PACKAGE}\n"
    made = await create_env(stack, pid, name="jokes", setup_script=script)
    env = made["uuid"]
    build = await build_end(stack, pid, env, made["latest_build"]["uuid"])
    log = await log_of(stack, pid, env, build["uuid"])
    assert build["status"] == "SUCCESS", (build, log)
    assert build["exit_code"] == 0 and build["size_bytes"] > 0
    assert build["started_time"] and build["finished_time"]
    venv = Path(build["venv_path"])
    assert f"building in {project['path']}" in log and "pyjokes" in log, log
    installed = await asyncio.to_thread(glob.glob, f"{venv}/lib/python*/site-packages/pyjokes")
    assert installed, "not installed in the venv"

    folder = Path(project["path"])
    step = await run_step(
        stack, folder, env, "use.py", "import pyjokes, orchest\nprint('from', pyjokes.__file__)\n"
    )
    assert step["status"] == "SUCCESS", step
    assert f"from {venv}" in step["log"], step["log"]
    cell = "import pyjokes, sys\nprint('kernel', sys.executable, pyjokes.__file__)"
    in_notebook = await run_step(stack, folder, env, "use.ipynb", notebook(cell))
    assert in_notebook["status"] == "SUCCESS", in_notebook
    assert in_notebook["log"].count(str(venv)) == 2, in_notebook["log"]

    # A failing script: FAILURE with its log and exit code; the first build stays in use.
    changed = await stack.http.patch(
        f"/api/projects/{pid}/environments/{env}",
        json={"setup_script": "echo about to fail\nexit 3\n"},
    )
    assert changed.status_code == 200, changed.text
    failed = await build_end(stack, pid, env, changed.json()["latest_build"]["uuid"])
    assert failed["status"] == "FAILURE" and failed["exit_code"] == 3, failed
    assert "exit code 3" in failed["reason"]
    assert "about to fail" in await log_of(stack, pid, env, failed["uuid"])
    again = await run_step(
        stack, folder, env, "use.py", "import pyjokes\nprint('from', pyjokes.__file__)\n"
    )
    assert again["status"] == "SUCCESS" and f"from {venv}" in again["log"], again

    # A kernel of the environment in a process session, with its interpreter.
    where = await session_kernel_runs(
        stack, project, env, "process", "import pyjokes, sys; (sys.executable, pyjokes.__file__)"
    )
    assert where.count(str(venv)) == 2, where


async def test_a_step_of_an_environment_without_a_successful_build_fails_at_once(
    stack: Stack,
) -> None:
    project = await new_project(stack)
    made = await create_env(stack, project["uuid"], name="broken", setup_script="exit 1\n")
    env = made["uuid"]
    failed = await build_end(stack, project["uuid"], env, made["latest_build"]["uuid"])
    assert failed["status"] == "FAILURE"
    marker = Path(project["path"]) / "ran"
    step = await run_step(stack, Path(project["path"]), env, "s.sh", f"touch {marker}\necho ran\n")
    assert step["status"] == "FAILURE", step
    assert step["error"].startswith("environment 'broken' has no successful build"), step
    assert "Traceback" not in step["error"] and failed["uuid"] in step["error"]
    assert not marker.exists()


async def a_sleeping_build(stack: Stack) -> tuple[dict[str, Any], str, str, list[int]]:
    """A build whose setup script sleeps, once it runs: its project, its
    environment's and its own uuids, and the pids of the script and its sleep."""
    project = await new_project(stack)
    pid_file = Path(project["path"]) / "build.pid"
    script = f"echo $$ > {pid_file}\nsleep 300 &\necho $! >> {pid_file}\nwait\n"
    made = await create_env(stack, project["uuid"], name="slow", setup_script=script)

    async def pids() -> list[int] | None:
        lines = pid_file.read_text().split() if pid_file.exists() else []
        return [int(p) for p in lines] if len(lines) == 2 else None

    running = await eventually(pids, timeout=120, what="the setup script runs")
    return project, made["uuid"], made["latest_build"]["uuid"], running


async def test_a_cancel_kills_the_build_within_two_seconds(stack: Stack) -> None:
    project, env, build, running = await a_sleeping_build(stack)
    url = f"/api/projects/{project['uuid']}/environments/{env}/builds/{build}"
    started = time.monotonic()
    cancelled = await stack.http.delete(url)
    took = time.monotonic() - started
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == BuildStatus.ABORTED
    assert took < 2.0, f"the cancel took {took:.2f} s"
    print(f"cancel answered ABORTED in {took:.3f} s")
    for pid in running:  # the script and what it started
        assert not alive(pid), f"process {pid} of the build is still running"
    again = await stack.http.delete(url)
    assert again.status_code == 409, again.text


async def test_a_cancel_taken_by_another_session_manager_stops_the_build(
    stack: Stack, nc: Client, bus: BusNames, database_url: str, tmp_path: Path
) -> None:
    """Cancels reach any session manager: one that does not run the build
    writes it ABORTED and says so; the one running it stops it."""
    project, env, build, running = await a_sleeping_build(stack)
    pool = await create_pool(database_url, min_size=1, max_size=2, schema="session_manager")
    try:
        other = Builds(
            pool,
            bus,
            nc,
            nc.jetstream(),
            environments_dir=tmp_path / "other-host",
            builder="process",
            owner="another-host",
            command_timeout=10.0,
        )
        cancel = CancelBuild(project_uuid=project["uuid"], environment_uuid=env, build_uuid=build)
        answered = await other.cancel(cancel)
        assert answered.status == BuildStatus.ABORTED

        async def gone() -> bool | None:
            return True if not any(alive(pid) for pid in running) else None

        await eventually(gone, timeout=10, what="the build's processes stopped by its host")
    finally:
        await pool.close()
    url = f"/api/projects/{project['uuid']}/environments/{env}/builds/{build}"
    ended = (await stack.http.get(url)).json()
    assert ended["status"] == BuildStatus.ABORTED, ended


async def test_an_environment_in_use_is_not_deleted(stack: Stack, tmp_path: Path) -> None:
    project = await new_project(stack)
    made = await create_env(stack, project["uuid"], name="used", setup_script="true\n")
    env = made["uuid"]
    built = await build_end(stack, project["uuid"], env, made["latest_build"]["uuid"])
    assert built["status"] == "SUCCESS", built
    gate = tmp_path / "gate"
    folder = Path(project["path"])
    definition = Project(folder)
    definition.step("s", "wait.sh", f"echo waiting\nwhile [ ! -e {gate} ]; do sleep 0.1; done\n",
                    environment=env)  # fmt: skip
    run = await stack.start_run(
        {
            "pipeline_definition": definition.definition(),
            "run_config": {"project_dir": str(folder), "project_uuid": project["uuid"]},
        }
    )
    url = f"/api/projects/{project['uuid']}/environments/{env}"
    refused = await stack.http.delete(url)
    assert refused.status_code == 409, refused.text
    assert "1 run(s) not ended" in refused.json()["message"]
    gate.touch()
    await stack.events(run["uuid"])
    deleted = await stack.http.delete(url)
    assert deleted.status_code == 200, deleted.text


async def test_a_builds_log_and_states_stream_live(stack: Stack, tmp_path: Path) -> None:
    """``follow`` streams the log as the script writes it and ends with the
    build; ``/api/events?environment_uuid=`` gives its states in order."""
    project = await new_project(stack)
    gate = tmp_path / "gate"
    script = f"echo first line\nwhile [ ! -e {gate} ]; do sleep 0.05; done\necho last line\n"
    made = await create_env(stack, project["uuid"], name="live", setup_script=script)
    env, build = made["uuid"], made["latest_build"]["uuid"]
    url = f"/api/projects/{project['uuid']}/environments/{env}/builds/{build}/logs"
    seen = ""
    async with stack.http.stream("GET", url, params={"follow": "true"}) as response:
        assert response.status_code == 200
        chunks = response.aiter_text()
        while "first line" not in seen:  # written while the build runs
            seen += await asyncio.wait_for(anext(chunks), 120)
        assert "last line" not in seen
        gate.touch()
        async for text in chunks:  # ends once the build has ended
            seen += text
    assert seen.index("first line") < seen.index("last line"), seen
    events = await read_events(
        stack.http, {"environment_uuid": env}, lambda got: got[-1].get("status") == "SUCCESS"
    )
    assert [e["status"] for e in events] == ["PENDING", "STARTED", "SUCCESS"], events
    assert {e["event"] for e in events} == {"environment_build_changed"}
