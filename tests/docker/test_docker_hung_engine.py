"""A Docker engine that stops answering: the step runner and the session
manager reach the real dockerd through ``EngineProxy``, which swallows the
requests a test names (a container create, a copy into a container) and
forwards every other one. Every request to the engine has a timeout (here
``docker_api_timeout_seconds=2``): the attempt ends FAILURE, the session
launch FAILED, each saying the engine did not answer, within a bound. The
shared dockerd itself is never stopped or paused.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import aiodocker
import pytest
from engine_proxy import EngineProxy
from integration.runs_harness import Project, event_log, whole_stack
from step_files import Output
from test_docker_executor import Steps, identity, labelled

from orchest_schemas.events import SessionStatusChanged
from orchest_session_manager.runtime.docker_containers import OWNER_LABEL
from orchest_session_manager.service import docker_runtime
from orchest_session_manager.settings import SessionManagerSettings
from orchest_step_runner.executor.docker import DockerExecutor
from orchest_step_runner.executor.reaping import LABEL_STEP
from orchest_step_runner.service import docker_options
from orchest_step_runner.settings import RunnerSettings
from support import launch_body

if TYPE_CHECKING:
    from conftest import Docker, Images

pytestmark = pytest.mark.timeout(2100)  # the first test may wait for images/build.sh

API_TIMEOUT = 2.0
"""Of each request to the engine, in these tests."""
BOUND = 20.0
"""The attempt (the launch) has ended by then; without timeouts it never would."""
CREATE = ("POST", r"/containers/create")
COPY = ("PUT", r"/containers/[^/]+/archive")
PROJECT = "3c7e1f0a-2b4d-4e6f-8a9c-0d1e2f3a4b5c"


@pytest.fixture
async def proxy() -> AsyncIterator[EngineProxy]:
    """The proxy on a socket in a short directory (a socket path has 108 bytes)."""
    with tempfile.TemporaryDirectory(prefix="orchest-proxy-") as root:
        async with EngineProxy(Path(root) / "docker.sock") as started:
            yield started


@pytest.fixture
def steps(tmp_path: Path) -> Steps:
    return Steps(tmp_path)


def runner_settings(images: Images, steps: Steps, proxy: EngineProxy, **extra: Any) -> Any:
    values = {
        "executor": "docker",
        "docker_url": proxy.url,
        "default_step_image": images.kernel_python,
        "docker_data_dir": steps.data,
        "docker_api_timeout_seconds": API_TIMEOUT,
        **extra,
    }
    return RunnerSettings(**values)


async def ended_within(executor: DockerExecutor, steps: Steps, script: str) -> tuple[Any, float]:
    work = steps.work(steps.write("hello.py", script))
    t0 = time.perf_counter()
    result = await asyncio.wait_for(
        executor.execute(work, output=Output(), cancel=asyncio.Event(), scratch_dir=steps.scratch),
        BOUND,
    )
    return (result, work.step_uuid), time.perf_counter() - t0


async def test_a_container_create_the_engine_never_answers_fails_the_attempt(
    images: Images, steps: Steps, proxy: EngineProxy
) -> None:
    settings = runner_settings(images, steps, proxy)
    async with DockerExecutor.open(identity(), docker_options(settings), proxy.url) as executor:
        hang = proxy.hang(*CREATE)
        (result, _), took = await ended_within(executor, steps, "print('never runs')\n")

    assert hang.swallowed, "the create never reached the proxy"
    assert result.exit_code is None and result.error is not None
    assert "did not answer" in result.error and "create container" in result.error
    assert f"{API_TIMEOUT:g} s" in result.error
    assert API_TIMEOUT <= took < API_TIMEOUT + 5.0, took
    print(f"create swallowed: attempt failed after {took:.2f}s: {result.error}")


async def test_a_copy_into_the_container_never_answered_fails_and_removes_it(
    images: Images, steps: Steps, proxy: EngineProxy
) -> None:
    """A runner in a container copies the attempt's files in (``put_archive``)
    before the start: the container exists when the engine stops answering."""
    settings = runner_settings(images, steps, proxy, docker_copy_files=True)
    async with (
        aiodocker.Docker() as engine,
        DockerExecutor.open(identity(), docker_options(settings), proxy.url) as executor,
    ):
        hang = proxy.hang(*COPY)
        (result, step_uuid), took = await ended_within(executor, steps, "print('never')\n")
        left = await labelled(engine, f"{LABEL_STEP}={step_uuid}")

    assert hang.swallowed, "the copy never reached the proxy"
    assert result.error is not None and "did not answer" in result.error
    assert "copy files into container" in result.error
    assert took < API_TIMEOUT + 5.0, took
    assert left == []  # removed (through the proxy: only copies hang)
    print(f"copy swallowed: attempt failed after {took:.2f}s: {result.error}")


async def test_an_abort_while_the_create_is_unanswered_ends_the_attempt_at_once(
    images: Images, steps: Steps, proxy: EngineProxy
) -> None:
    """The abort (and the step's timeout) applies while the container is being
    made, not only once it runs: here the request timeout is 30 s."""
    settings = runner_settings(images, steps, proxy, docker_api_timeout_seconds=30.0)
    work = steps.work(steps.write("hello.py", "print('never runs')\n"))
    cancel = asyncio.Event()
    async with DockerExecutor.open(identity(), docker_options(settings), proxy.url) as executor:
        hang = proxy.hang(*CREATE)
        task = asyncio.create_task(
            executor.execute(work, output=Output(), cancel=cancel, scratch_dir=steps.scratch)
        )
        await asyncio.wait_for(hang.arrived.wait(), BOUND)
        cancel.set()
        t0 = time.perf_counter()
        result = await asyncio.wait_for(task, BOUND)
        took = time.perf_counter() - t0

    assert result.aborted and result.error == "aborted" and result.exit_code is None
    assert took < 5.0, took
    print(f"abort during an unanswered create: attempt ended {took:.2f}s after it")


async def test_through_the_stack_the_step_ends_failure_not_started_forever(
    service_settings: Callable[..., Any], images: Images, steps: Steps, proxy: EngineProxy
) -> None:
    runner = {
        "executor": "docker",
        "docker_url": proxy.url,
        "default_step_image": images.kernel_python,
        "docker_data_dir": steps.data,
        "docker_api_timeout_seconds": API_TIMEOUT,
    }
    project = Project(steps.dir / "pipeline")
    project.step("hello", "hello.py", "print('never runs')\n")
    async with whole_stack(service_settings, runner_overrides=runner) as stack:
        hang = proxy.hang(*CREATE)
        t0 = time.perf_counter()
        run = await stack.run_to_end(project.body(), timeout=BOUND)
        took = time.perf_counter() - t0

    assert hang.swallowed
    [step] = run["pipeline_steps"]
    assert (run["status"], step["status"]) == ("FAILURE", "FAILURE"), run
    assert "did not answer" in step["error"] and "create container" in step["error"]
    print(f"run FAILURE {took:.2f}s after its start: {step['error']}")


@pytest.fixture
def owner_cleanup(docker: Docker) -> Iterator[list[str]]:
    owners: list[str] = []
    yield owners
    for owner in owners:
        ids = docker("ps", "--all", "--quiet", "--filter", f"label={OWNER_LABEL}={owner}")
        if ids.stdout.split():
            docker("rm", "--force", "--volumes", *ids.stdout.split())


def manager_settings(images: Images, proxy: EngineProxy, **extra: Any) -> dict[str, Any]:
    return {
        "docker_url": proxy.url,
        "docker_gateway_image": images.enterprise_gateway,
        "docker_jupyter_image": images.jupyter_server,
        "docker_kernel_image": images.kernel_python,
        "docker_api_timeout_seconds": API_TIMEOUT,
        **extra,
    }


async def test_a_session_launch_on_an_engine_that_stops_answering_fails_with_the_cause(
    images: Images, proxy: EngineProxy, tmp_path: Path, owner_cleanup: list[str]
) -> None:
    from orchest_session_manager.runtime.base import LaunchFailed, SessionSpec

    settings = SessionManagerSettings(
        sessions_dir=tmp_path / "sessions", **manager_settings(images, proxy)
    )
    runtime = docker_runtime(settings)
    owner_cleanup.append(runtime.owner)
    (tmp_path / "project").mkdir()
    spec = SessionSpec(
        session_uuid=str(uuid4()),
        project_uuid=PROJECT,
        pipeline_uuid=str(uuid4()),
        project_dir=str(tmp_path / "project"),
        pipeline_path="main.orchest",
    )
    hang = proxy.hang(*CREATE)
    t0 = time.perf_counter()
    with pytest.raises(LaunchFailed) as failed:
        await asyncio.wait_for(runtime.launch(spec), BOUND)
    took = time.perf_counter() - t0

    assert hang.swallowed
    assert "did not answer" in failed.value.reason and "create container" in failed.value.reason
    assert took < API_TIMEOUT + 10.0, took
    assert await runtime.owned() == []
    assert not runtime.session_dir(spec.session_uuid).exists()
    print(f"launch failed after {took:.2f}s: {failed.value.reason}")


async def test_through_the_stack_the_session_ends_failed_with_the_cause(
    service_settings: Callable[..., Any],
    images: Images,
    proxy: EngineProxy,
    tmp_path: Path,
) -> None:
    pipeline = str(uuid4())
    body = launch_body(PROJECT, pipeline, tmp_path, runtime="docker")
    sessions = manager_settings(images, proxy, session_health_seconds=0.2)
    async with whole_stack(service_settings, sessions=sessions) as stack:
        hang = proxy.hang(*CREATE)
        async with event_log(stack, stack.bus.session_event(PROJECT, pipeline)) as log:
            t0 = time.perf_counter()
            created = await stack.http.post("/api/sessions", json=body)
            assert created.status_code == 201, created.text
            events = await log.wait_for(
                lambda found: any(
                    isinstance(e, SessionStatusChanged) and e.status.value == "FAILED"
                    for e in found
                ),
                timeout=BOUND,
                what="session FAILED",
            )
            took = time.perf_counter() - t0

    assert hang.swallowed
    failed = [e for e in events if isinstance(e, SessionStatusChanged)][-1]
    assert failed.reason and "did not answer" in failed.reason, failed.reason
    assert "create container" in failed.reason
    print(f"session FAILED {took:.2f}s after the launch: {failed.reason}")
