"""A process environment's superseded venvs are removed (``docs/environments.md``,
"Process builds"): once a build succeeded, the folders of the environment's
older successful builds go, but those a job pins and those a live process
uses; one in use goes at a later build, or when a session manager starts,
which also removes what a removal cut short left (a tombstone)."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from environments_kit import alive, build_end, create_env, new_project
from runs_harness import Stack, whole_stack

from orchest_schemas.environments import (
    PinEnvironments,
    Pinned,
    Resolution,
    ResolveEnvironment,
)
from orchest_service.commands import request_command
from orchest_service.database import create_pool
from orchest_session_manager import build_store
from orchest_session_manager.service import build_definition as build_session_manager
from orchest_session_manager.settings import SessionManagerSettings
from support import eventually, running_service

TOMBSTONE_PREFIX = ".pruned-"
"""What a removal renames a build's folder to first (``<environment>/.pruned-<build>``)."""


@pytest.fixture
def environments_dir(tmp_path: Path) -> Path:
    return tmp_path / "environments"


@pytest.fixture
async def stack(
    service_settings: Callable[..., Any], environments_dir: Path
) -> AsyncIterator[Stack]:
    async with whole_stack(service_settings, sessions={"environments_dir": environments_dir}) as s:
        yield s


async def rebuilt(stack: Stack, project: str, env: str) -> dict[str, Any]:
    """A new build of the environment, once it ended successfully."""
    started = await stack.http.post(f"/api/projects/{project}/environments/{env}/builds")
    assert started.status_code == 201, started.text
    ended = await build_end(stack, project, env, started.json()["uuid"], timeout=120)
    assert ended["status"] == "SUCCESS", ended
    return ended


async def first_build(stack: Stack) -> tuple[str, str, dict[str, Any]]:
    """A project, an environment of it and its first (successful) build."""
    project = (await new_project(stack))["uuid"]
    made = await create_env(stack, project, name="pruned", setup_script="true\n")
    env = made["uuid"]
    build = await build_end(stack, project, env, made["latest_build"]["uuid"], timeout=120)
    assert build["status"] == "SUCCESS", build
    return project, env, build


async def view(stack: Stack, project: str, env: str, build: str) -> dict[str, Any]:
    got = await stack.http.get(f"/api/projects/{project}/environments/{env}/builds/{build}")
    assert got.status_code == 200, got.text
    answer: dict[str, Any] = got.json()
    return answer


def folder_of(build: dict[str, Any]) -> Path:
    return Path(build["venv_path"]).parent


def left_in(environment_folder: Path) -> list[str]:
    return sorted(p.name for p in environment_folder.iterdir())


async def a_process_of(venv: str) -> asyncio.subprocess.Process:
    """A process of the venv's interpreter, once it runs (it says so)."""
    process = await asyncio.create_subprocess_exec(
        str(Path(venv) / "bin" / "python"),
        "-c",
        "import sys, time; print('up', flush=True); time.sleep(300)",  # wait-ok: its work, ended by the test
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 30)
    assert line == b"up\n", line
    return process


async def ended(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGKILL)
    await asyncio.wait_for(process.wait(), 10)
    assert not alive(process.pid)


async def test_a_build_removes_the_venvs_it_supersedes_but_a_pinned_one(stack: Stack) -> None:
    project, env, first = await first_build(stack)
    job = str(uuid.uuid4())
    pinned = await request_command(
        stack.nc,
        stack.bus.environment_command("pin"),
        PinEnvironments(job_uuid=job, project_uuid=project, environment_uuids=[env]),
        Pinned,
        timeout=10,
    )
    assert pinned.pins == {env: first["uuid"]}
    second = await rebuilt(stack, project, env)
    third = await rebuilt(stack, project, env)

    environment_folder = folder_of(first).parent
    assert left_in(environment_folder) == sorted([first["uuid"], third["uuid"]]), (
        "after the third build, the pinned first and the latest only: "
        f"{left_in(environment_folder)} (second: {second['uuid']})"
    )
    assert (Path(first["venv_path"]) / "bin" / "python").exists()
    assert (Path(third["venv_path"]) / "bin" / "python").exists()
    # The rows stay (history); the view says which venv is gone.
    removed = await view(stack, project, env, second["uuid"])
    assert removed["status"] == "SUCCESS" and removed["pruned_time"] is not None, removed
    for kept in (first, third):
        assert (await view(stack, project, env, kept["uuid"]))["pruned_time"] is None
    # The job's steps still run in the build it pinned, others in the latest.
    for job_uuid, expected in ((job, first), (None, third)):
        resolved = await request_command(
            stack.nc,
            stack.bus.environment_command("resolve"),
            ResolveEnvironment(project_uuid=project, environment_uuid=env, job_uuid=job_uuid),
            Resolution,
            timeout=10,
        )
        assert resolved.build is not None and resolved.build.uuid == expected["uuid"], resolved
        assert resolved.build.pruned_time is None


async def test_a_job_pinning_as_a_build_ends_keeps_the_build_it_pinned(stack: Stack) -> None:
    """A job's pin reads the latest successful build, then writes its pin: a
    prune choosing its venvs in between waits for it (a lock per environment)
    and so sees the pin."""
    project, env, first = await first_build(stack)
    pool = await create_pool(stack.database_url, min_size=1, max_size=2, schema="session_manager")
    try:
        async with pool.acquire() as conn:
            transaction = conn.transaction()
            await transaction.start()
            try:  # a job's pin, begun before the next build succeeds
                await build_store.lock_pins(conn, env)
                latest = await build_store.latest_success(conn, project, env)
                assert latest is not None and latest.uuid == first["uuid"]
                started = await stack.http.post(
                    f"/api/projects/{project}/environments/{env}/builds"
                )
                assert started.status_code == 201, started.text
                second = started.json()["uuid"]

                async def written() -> bool | None:
                    status = (await view(stack, project, env, second))["status"]
                    return True if status == "SUCCESS" else None

                await eventually(written, timeout=120, what="the second build's SUCCESS written")
                await build_store.pin(conn, str(uuid.uuid4()), env, first["uuid"])
            finally:
                await transaction.commit()
    finally:
        await pool.close()
    ended = await build_end(stack, project, env, second, timeout=120)
    assert ended["status"] == "SUCCESS", ended
    assert (Path(first["venv_path"]) / "bin" / "python").exists(), "the pinned venv was removed"
    assert (await view(stack, project, env, first["uuid"]))["pruned_time"] is None


async def test_a_venv_a_process_runs_in_is_kept_until_a_build_after_it_ended(
    stack: Stack,
) -> None:
    project, env, first = await first_build(stack)
    process = await a_process_of(first["venv_path"])
    try:
        second = await rebuilt(stack, project, env)
        environment_folder = folder_of(first).parent
        assert left_in(environment_folder) == sorted([first["uuid"], second["uuid"]])
        assert (await view(stack, project, env, first["uuid"])).get("pruned_time") is None
        assert process.returncode is None, "the process in the venv was disturbed"
    finally:
        await ended(process)
    third = await rebuilt(stack, project, env)
    assert left_in(environment_folder) == [third["uuid"]], (
        f"once its process ended, a later build removes it: {left_in(environment_folder)}"
    )
    for gone in (first, second):
        assert (await view(stack, project, env, gone["uuid"]))["pruned_time"] is not None


async def test_a_session_manager_start_removes_what_a_removal_left(
    stack: Stack, service_settings: Callable[..., Any], environments_dir: Path, tmp_path: Path
) -> None:
    """A venv left because it was in use goes when a session manager starts,
    as does a tombstone that a removal cut short by a crash left."""
    project, env, first = await first_build(stack)
    environment_folder = folder_of(first).parent
    process = await a_process_of(first["venv_path"])
    try:
        second = await rebuilt(stack, project, env)
        third = await rebuilt(stack, project, env)
        assert left_in(environment_folder) == sorted([first["uuid"], third["uuid"]]), (
            f"the second removed, the first in use kept: {left_in(environment_folder)}"
            f" (second: {second['uuid']})"
        )
    finally:
        await ended(process)
    # A crash after the rename, before the tree was removed.
    crashed = environment_folder / f"{TOMBSTONE_PREFIX}{uuid.uuid4()}"
    (crashed / "venv" / "bin").mkdir(parents=True)
    (crashed / "venv" / "bin" / "python").write_text("left by a crash\n")

    settings: SessionManagerSettings = service_settings(
        SessionManagerSettings,
        sessions_dir=tmp_path / "another-sessions",
        environments_dir=environments_dir,
    )
    async with running_service(build_session_manager(settings), settings):

        async def cleaned() -> bool | None:
            return True if left_in(environment_folder) == [third["uuid"]] else None

        await eventually(cleaned, timeout=60, what="the start-up removes what was left")
    assert (await view(stack, project, env, first["uuid"]))["pruned_time"] is not None
    assert (await view(stack, project, env, third["uuid"]))["pruned_time"] is None
