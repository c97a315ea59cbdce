"""The process runtime of sessions against real processes: Enterprise Gateway
and a Jupyter server from their own environments, a real ipykernel.

The environments are made once (in ``$ORCHEST_SESSION_VENVS_DIR`` or the user data
dir, where the product makes them too, so only the first run pays for them).
Each test has its own sessions directory, hence its own owner key: it sees
only its own sessions. Nothing sleeps to wait: every wait is an await with a
timeout on what the processes answer.
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import signal
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import psutil
import pytest
from jupyter_harness import (
    EXECUTE_TIMEOUT,
    auth,
    execute,
    is_gone,
    marked_anywhere,
    session_spec,
    start_kernel,
)

from orchest_session_manager.runtime.base import LaunchFailed, Owned, SessionEndpoints, SessionSpec
from orchest_session_manager.runtime.kernelspecs import KERNELS_DIR, write_kernelspecs
from orchest_session_manager.runtime.process import ProcessRuntime
from orchest_session_manager.runtime.venvs import (
    ENTERPRISE_GATEWAY,
    JUPYTER_SERVER,
    STAMP_NAME,
    ensure_venv,
)

# Making both environments from nothing downloads about 160 wheels.
pytestmark = pytest.mark.timeout(300)

PROJECT_UUID = "7c0b8a4e-5bd1-4cf6-9c1b-0a4bd2b6c6f1"
PIPELINE_UUID = "d4a3f8a0-8c2b-4a53-9a8e-3f4e8b1c2d3e"


@pytest.fixture(scope="module")
async def environments() -> dict[str, float]:
    """Both environments exist (made here the first time); their creation time."""
    took = {}
    for name in (ENTERPRISE_GATEWAY, JUPYTER_SERVER):
        started = time.monotonic()
        await asyncio.to_thread(ensure_venv, name)
        took[name] = time.monotonic() - started
    return took


@pytest.fixture
async def runtime(tmp_path: Path, environments: dict[str, float]) -> AsyncIterator[ProcessRuntime]:
    runtime = ProcessRuntime(tmp_path / "sessions")
    yield runtime
    for owned in await runtime.owned():  # whatever a failing test left
        await runtime.stop(owned.session_uuid)


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / "notebooks").mkdir(parents=True)
    return project


def spec_for(project_dir: Path, **env: str) -> SessionSpec:
    return session_spec(project_dir, PROJECT_UUID, PIPELINE_UUID, **env)


def session_processes(owned: list[Owned], session_uuid: str) -> list[psutil.Process]:
    return [psutil.Process(o.details["pid"]) for o in owned if o.session_uuid == session_uuid]


async def test_launch_execute_and_stop(runtime: ProcessRuntime, project_dir: Path) -> None:
    spec = spec_for(project_dir)
    started = time.monotonic()
    endpoints = await runtime.launch(spec)
    print(f"launch to both ready: {time.monotonic() - started:.2f}s")

    assert endpoints.jupyter_url.startswith("http://127.0.0.1:")
    assert endpoints.gateway_url.startswith("http://127.0.0.1:")
    assert await runtime.alive(spec.session_uuid)
    kernel_id = await start_kernel(endpoints.jupyter_url, endpoints.jupyter_token)
    assert await execute(endpoints.jupyter_url, endpoints.jupyter_token, kernel_id, "1 + 1") == "2"

    owned = await runtime.owned()
    roles = sorted(o.role for o in owned if o.session_uuid == spec.session_uuid)
    assert roles == ["enterprise-gateway", "jupyter-server", "kernel"]
    assert {o.session_uuid for o in owned} == {spec.session_uuid}
    processes = session_processes(owned, spec.session_uuid)
    session_dir = endpoints.details["session_dir"]
    assert await asyncio.to_thread(os.path.isdir, session_dir)

    await runtime.stop(spec.session_uuid)
    assert all(is_gone(p) for p in processes)
    assert marked_anywhere(spec.session_uuid) == []
    assert await runtime.owned() == []
    assert not await runtime.alive(spec.session_uuid)
    assert not await asyncio.to_thread(os.path.exists, session_dir)
    await runtime.stop(spec.session_uuid)  # idempotent


async def test_kernel_cwd_and_environment(
    runtime: ProcessRuntime, project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A notebook's kernel starts in the notebook's folder with the session's
    variables, and none of the session manager's own settings."""
    monkeypatch.setenv("ORCHEST_DATABASE_URL", "postgresql://secret@127.0.0.1/orchest")
    spec = spec_for(project_dir, MY_VARIABLE="set by the pipeline")
    endpoints = await runtime.launch(spec)
    kernel_id = await start_kernel(
        endpoints.jupyter_url, endpoints.jupyter_token, notebook="notebooks/analysis.ipynb"
    )
    code = (
        "import os; (os.getcwd(), os.environ.get('MY_VARIABLE'),"
        " os.environ.get('ORCHEST_PIPELINE_UUID'), 'ORCHEST_DATABASE_URL' in os.environ)"
    )
    result = await execute(endpoints.jupyter_url, endpoints.jupyter_token, kernel_id, code)
    expected = (str(project_dir / "notebooks"), "set by the pipeline", PIPELINE_UUID, False)
    assert ast.literal_eval(result) == expected
    await runtime.stop(spec.session_uuid)


SERVICE_ONLY = {
    "ORCHEST_NATS_PASSWORD": "nats-secret-7d1e",
    "ORCHEST_API_TOKENS": "api-secret-2b9c",
    "DOCKER_HOST": "unix:///run/secret-engine.sock",
    "SSH_AUTH_SOCK": "/tmp/secret-agent.sock",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-5a0f",
    "PYTHONPATH": "/secret/service/code",
}
"""The session manager's settings, secrets and ways into the host."""


async def test_servers_and_kernels_keep_only_the_allow_list(
    runtime: ProcessRuntime, project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Neither the session's servers nor its kernels (which could read the
    servers' ``/proc/<pid>/environ``) get anything of the session manager's
    environment but the allow-list: its locale and time zone do reach them."""
    for name, value in {**SERVICE_ONLY, "LC_TIME": "C.UTF-8", "TZ": "Europe/Oslo"}.items():
        monkeypatch.setenv(name, value)
    spec = spec_for(project_dir, MY_VARIABLE="set by the pipeline")
    endpoints = await runtime.launch(spec)
    kernel_id = await start_kernel(endpoints.jupyter_url, endpoints.jupyter_token)
    code = "import json, os; json.dumps(dict(os.environ))"
    text = await execute(endpoints.jupyter_url, endpoints.jupyter_token, kernel_id, code)
    environments = {"kernel": json.loads(ast.literal_eval(text))}
    for owned in await runtime.owned():
        if owned.role in ("enterprise-gateway", "jupyter-server"):
            process = psutil.Process(owned.details["pid"])
            environments[owned.role] = await asyncio.to_thread(process.environ)
    assert sorted(environments) == ["enterprise-gateway", "jupyter-server", "kernel"]
    for role, env in environments.items():
        assert sorted(set(SERVICE_ONLY) & set(env)) == [], role
        assert (env.get("LC_TIME"), env.get("TZ")) == ("C.UTF-8", "Europe/Oslo"), role
    kernel = environments["kernel"]
    assert (kernel["MY_VARIABLE"], kernel["ORCHEST_PIPELINE_UUID"]) == (
        "set by the pipeline",
        PIPELINE_UUID,
    )
    assert not [name for name in kernel if name.startswith("JUPYTER_")]
    await runtime.stop(spec.session_uuid)


MANAGER = textwrap.dedent(
    """
    import asyncio, dataclasses, json, sys
    from pathlib import Path
    from orchest_session_manager.runtime.base import SessionSpec
    from orchest_session_manager.runtime.process import ProcessRuntime

    async def main():
        spec = SessionSpec(**json.loads(sys.argv[2]))
        endpoints = await ProcessRuntime(Path(sys.argv[1])).launch(spec)
        print(json.dumps(dataclasses.asdict(endpoints)), flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())
    """
)


async def test_session_outlives_a_killed_manager(
    runtime: ProcessRuntime, project_dir: Path
) -> None:
    """A manager process launches a session and is killed (-9): the session
    keeps answering; a new runtime on the same directory finds it and stops it."""
    spec = spec_for(project_dir)
    manager = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        MANAGER,
        str(runtime.sessions_dir),
        json.dumps(spec.__dict__),
        stdout=asyncio.subprocess.PIPE,
    )
    assert manager.stdout is not None
    async with asyncio.timeout(EXECUTE_TIMEOUT):
        line = await manager.stdout.readline()
    assert line, "the manager exited before the session was ready"
    endpoints = SessionEndpoints(**json.loads(line))
    manager.kill()
    assert await manager.wait() == -signal.SIGKILL

    async with httpx.AsyncClient(trust_env=False, timeout=10.0) as client:
        status = await client.get(
            f"{endpoints.jupyter_url}api/status", headers=auth(endpoints.jupyter_token)
        )
    assert status.status_code == 200
    kernel_id = await start_kernel(endpoints.jupyter_url, endpoints.jupyter_token)
    assert await execute(endpoints.jupyter_url, endpoints.jupyter_token, kernel_id, "6 * 7") == "42"

    restarted = ProcessRuntime(runtime.sessions_dir)  # as after a restart
    owned = await restarted.owned()
    assert sorted(o.role for o in owned) == ["enterprise-gateway", "jupyter-server", "kernel"]
    assert {o.session_uuid for o in owned} == {spec.session_uuid}
    assert await restarted.alive(spec.session_uuid)
    other = ProcessRuntime(runtime.sessions_dir.parent / "other-sessions")
    assert await other.owned() == []  # another owner's sessions are not its own

    processes = session_processes(owned, spec.session_uuid)
    await restarted.stop(spec.session_uuid)
    assert all(is_gone(p) for p in processes)
    assert marked_anywhere(spec.session_uuid) == []
    assert await restarted.owned() == []


async def test_failed_launch_leaves_nothing(runtime: ProcessRuntime, tmp_path: Path) -> None:
    spec = spec_for(tmp_path / "no-such-project")
    with pytest.raises(LaunchFailed) as failed:
        await runtime.launch(spec)
    assert "jupyter-server exited" in failed.value.reason
    assert "No such directory" in failed.value.reason
    assert await runtime.owned() == []
    assert marked_anywhere(spec.session_uuid) == []
    assert not await asyncio.to_thread(runtime.session_dir(spec.session_uuid).exists)


async def test_environment_made_once_by_concurrent_callers(tmp_path: Path) -> None:
    """Two processes ensuring the same new environment at once: one syncs,
    the other waits for it; both get a working environment."""
    venvs_dir = tmp_path / "session-venvs"
    code = (
        "import sys; from orchest_session_manager.runtime.venvs import"
        " ensure_venv as e; print(e(sys.argv[1]))"
    )
    env = {**os.environ, "ORCHEST_SESSION_VENVS_DIR": str(venvs_dir)}
    callers = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", code, JUPYTER_SERVER, env=env, stdout=asyncio.subprocess.PIPE
        )
        for _ in range(2)
    ]
    async with asyncio.timeout(240):
        outputs = [await caller.communicate() for caller in callers]
    assert [caller.returncode for caller in callers] == [0, 0]
    venv = venvs_dir / JUPYTER_SERVER
    assert {out.decode().strip() for out, _ in outputs} == {str(venv)}
    assert await asyncio.to_thread((venv / STAMP_NAME).is_file)
    check = await asyncio.create_subprocess_exec(
        str(venv / "bin" / "python"), "-c", "import ipykernel, jupyter_server"
    )
    assert await check.wait() == 0


def test_kernelspecs_filled_from_templates(tmp_path: Path) -> None:
    names = write_kernelspecs(KERNELS_DIR / "process", tmp_path, {"PYTHON": "/opt/py/bin/python"})
    assert names == ["python3"]
    spec = json.loads((tmp_path / "python3" / "kernel.json").read_text())
    assert "/opt/py/bin/python" in spec["argv"]
    assert "{connection_file}" in spec["argv"]
    assert spec["metadata"]["process_proxy"]["class_name"].endswith(".LocalProcessProxy")
    with pytest.raises(ValueError, match="@PYTHON@"):
        write_kernelspecs(KERNELS_DIR / "process", tmp_path / "again", {})
