"""The docker executor against the real dockerd and the real kernel image:
scripts and notebooks in step containers, what they see, how they end, the
limits and labels, the reaping of a dead runner's containers; and through the
whole stack, Orchest notebooks passing data with the real Orchest SDK, abort,
and a runner killed mid-step.

A missing Docker engine fails these tests (the ``docker`` fixture); the
images come from ``images/build.sh`` (cached after the first build).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import uuid4

import aiodocker
import httpx
import nbformat
import pytest
from integration.runs_harness import Project, Stack, notebook, whole_stack
from step_files import StepFiles

from orchest_gateway.service import build_definition as build_gateway
from orchest_gateway.settings import GatewaySettings
from orchest_scheduler.service import build_definition as build_scheduler
from orchest_scheduler.settings import SchedulerSettings
from orchest_schemas.pipeline import PipelineDefinition
from orchest_step_runner.executor import ExecutionResult
from orchest_step_runner.executor.docker import DockerExecutor, DockerOptions
from orchest_step_runner.executor.environment import orchest_variables
from orchest_step_runner.executor.reaping import (
    LABEL_ATTEMPT,
    LABEL_CONTAINER,
    LABEL_HOST,
    LABEL_PROCESS,
    LABEL_RUN,
    LABEL_RUNNER,
    LABEL_STEP,
    RunnerIdentity,
    RunnerProcess,
    start_ticks,
)
from orchest_step_runner.service import build_definition as build_runner
from orchest_step_runner.settings import RunnerSettings
from support import ENV_WITHOUT_ORCHEST, eventually, free_port, running_service

if TYPE_CHECKING:
    from conftest import Images

# The first test also waits for images/build.sh: minutes on a first build.
pytestmark = pytest.mark.timeout(2100)

RESULT_TIMEOUT = 120.0
STOP_BUDGET = 5.0
"""Abort and timeout: the step's container is gone within this."""
PROJECT_UUID = "5e0c1d2a-3b4c-4d5e-8f60-718293a4b5c6"
MIB = 1024**2


# -- direct executor tests -----------------------------------------------------------


# Steps that must still run when the test acts on them (abort, timeout, a kill):
SLEEPER = "import time\nprint('ready', flush=True)\ntime.sleep(600)\n"  # wait-ok
SLEEPER_CELL = ("import time\nprint('ready')\ntime.sleep(600)", [])  # wait-ok


class Steps(StepFiles):
    """A project directory with step files in ``steps/``, a scratch and a data directory."""

    result_timeout = RESULT_TIMEOUT

    def __init__(self, root: Path) -> None:
        super().__init__(root, PROJECT_UUID)
        self.data = root / "data"

    step: ClassVar[dict[str, Any]] = {"environment": ""}


@pytest.fixture
def steps(tmp_path: Path) -> Steps:
    return Steps(tmp_path)


def options(images: Images, steps: Steps, **overrides: Any) -> DockerOptions:
    values: dict[str, Any] = {
        "default_image": images.kernel_python,
        "memory_bytes": 512 * MIB,
        "cpus": 1.0,
        "pids_limit": 256,
        "data_dir": steps.data,
        "kill_grace_seconds": 1.0,
    }
    values.update(overrides)
    return DockerOptions(**values)


def identity(host: str | None = None) -> RunnerIdentity:
    """This process as a runner, on a host name of the test's own (so its
    reaping judges only the test's containers)."""
    return RunnerIdentity(
        f"test:{os.getpid()}:{uuid4().hex}", host or f"test-{uuid4().hex}", RunnerProcess.current()
    )


@contextlib.asynccontextmanager
async def opened(
    images: Images, steps: Steps, me: RunnerIdentity | None = None, **overrides: Any
) -> AsyncIterator[DockerExecutor]:
    async with DockerExecutor.open(me or identity(), options(images, steps, **overrides)) as ex:
        yield ex


@pytest.fixture
async def engine() -> AsyncIterator[aiodocker.Docker]:
    async with aiodocker.Docker() as docker:
        yield docker


async def labelled(engine: aiodocker.Docker, label: str) -> list[dict[str, Any]]:
    """The containers (any state) with ``label`` (``key=value``), inspected."""
    listed = await engine.containers.list(all=True, filters=json.dumps({"label": [label]}))
    shown = []
    for container in listed:
        with contextlib.suppress(aiodocker.DockerError):  # removed meanwhile
            shown.append(await container.show())
    return shown


async def gone_within(engine: aiodocker.Docker, label: str, seconds: float) -> float:
    """Wait until no container has ``label``; how long that took."""
    t0 = time.perf_counter()
    await eventually(
        lambda: _none_left(engine, label), timeout=seconds, what=f"no container {label}"
    )
    return time.perf_counter() - t0


async def _none_left(engine: aiodocker.Docker, label: str) -> bool | None:
    return True if not await labelled(engine, label) else None


REPORT = """\
import json, os
seen = {k: v for k, v in os.environ.items() if k.startswith("ORCHEST_")}
seen["cwd"] = os.getcwd()
seen["ids"] = [os.getuid(), os.getgid()]
seen["MY_VAR"] = os.environ.get("MY_VAR")
seen["PYTHONUNBUFFERED"] = os.environ.get("PYTHONUNBUFFERED")
with open(os.environ["ORCHEST_PIPELINE_PATH"]) as f:
    seen["pipeline"] = json.load(f)
with open("/data/written-by-step", "w") as f:
    f.write("data")
print("SEEN " + json.dumps(seen))
"""


async def test_a_script_sees_the_orchest_variables_with_the_containers_paths(
    images: Images, steps: Steps
) -> None:
    work = steps.work(
        steps.write("report.py", REPORT),
        parameters={"p": 1, "shared": "pipeline"},
        step_parameters={"shared": "step"},
        env={"MY_VAR": "my value", "ORCHEST_STEP_UUID": "not overridden"},
    )
    async with opened(images, steps) as executor:
        result, output = await steps.run(executor, work)

    assert result == ExecutionResult(0, None), output.text
    seen = json.loads(re.search(r"SEEN (.*)", output.text).group(1))  # type: ignore[union-attr]
    assert seen.pop("cwd") == "/project-dir/steps"
    owner = steps.dir.stat()
    assert seen.pop("ids") == [owner.st_uid, owner.st_gid]
    assert seen.pop("MY_VAR") == "my value"
    assert seen.pop("PYTHONUNBUFFERED") == "1"
    pipeline = seen.pop("pipeline")
    assert PipelineDefinition.model_validate(pipeline) == work.pipeline_definition
    # The keys the Orchest SDK reads without a default are written, even unset.
    assert pipeline["name"] == ""
    step = pipeline["steps"][work.step_uuid]
    assert step["incoming_connections"] == [] and step["title"] == ""
    assert seen == orchest_variables(
        work, project_dir=Path("/project-dir"), pipeline_path=Path("/pipeline.json")
    )
    assert seen["ORCHEST_PARAMETERS"] == json.dumps({"p": 1, "shared": "step"})
    assert (steps.data / "written-by-step").read_text() == "data"


async def test_a_shell_step_streams_live_and_its_exit_code_decides(
    images: Images, steps: Steps
) -> None:
    work = steps.work(
        steps.write(
            "wait.sh",
            """\
            echo "first line"
            while [ ! -e go ]; do sleep 0.05; done
            echo "to stderr" >&2
            exit 3
            """,
        )
    )
    async with (
        opened(images, steps) as executor,
        steps.running(executor, work) as (task, _, output),
    ):
        await output.wait_for("first line")  # while the step still runs
        assert not task.done()
        (steps.steps / "go").touch()
        result = await asyncio.wait_for(task, RESULT_TIMEOUT)

    assert result == ExecutionResult(3, "exit code 3")
    assert output.text == "first line\nto stderr\n"


async def test_the_container_is_labelled_limited_unprivileged_and_gone_after_abort(
    images: Images, steps: Steps, engine: aiodocker.Docker
) -> None:
    work = steps.work(steps.write("sleep.py", SLEEPER))
    me = identity()
    async with (
        opened(images, steps, me) as executor,
        steps.running(executor, work) as (task, cancel, output),
    ):
        await output.wait_for("ready")
        [info] = await labelled(engine, f"{LABEL_STEP}={work.step_uuid}")
        cancel.set()
        t0 = time.perf_counter()
        result = await asyncio.wait_for(task, RESULT_TIMEOUT)
        stopped = time.perf_counter() - t0
        left = await labelled(engine, f"{LABEL_STEP}={work.step_uuid}")

    assert result.aborted and result.error == "aborted"
    assert stopped < STOP_BUDGET and left == []
    labels = info["Config"]["Labels"]
    assert {k: v for k, v in labels.items() if k.startswith("orchest.")} == {
        LABEL_RUN: work.run_uuid,
        LABEL_STEP: work.step_uuid,
        LABEL_ATTEMPT: "2",
        LABEL_RUNNER: me.runner_id,
        LABEL_HOST: me.host,
        LABEL_PROCESS: me.process.label,
    }
    host = info["HostConfig"]
    assert host["NetworkMode"] == "host"
    assert host["CapDrop"] == ["ALL"] and not host["CapAdd"]
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert host["Privileged"] is False
    assert host["Memory"] == host["MemorySwap"] == 512 * MIB
    assert host["NanoCpus"] == 1_000_000_000
    assert host["PidsLimit"] == 256
    assert host["Init"] is True
    owner = steps.dir.stat()
    assert info["Config"]["User"] == f"{owner.st_uid}:{owner.st_gid}"
    assert info["Config"]["WorkingDir"] == "/project-dir/steps"
    mounts = {m["Destination"]: (m["Source"], m["RW"]) for m in info["Mounts"]}
    assert mounts == {
        "/project-dir": (str(steps.dir), True),
        "/pipeline.json": (str(steps.scratch / "pipeline.json"), False),
        "/data": (str(steps.data), True),
    }
    assert not any("docker.sock" in m["Source"] for m in info["Mounts"])
    assert f"ORCHEST_STEP_UUID={work.step_uuid}" in info["Config"]["Env"]


async def test_a_timeout_kills_a_step_that_ignores_sigterm(
    images: Images, steps: Steps, engine: aiodocker.Docker
) -> None:
    work = steps.work(
        steps.write(
            "stubborn.py",
            """\
            import signal, time
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            print("ignoring SIGTERM", flush=True)
            time.sleep(600)  # wait-ok: the step must still run when the test acts
            """,
        ),
        timeout=2.0,
    )
    async with opened(images, steps) as executor:
        t0 = time.perf_counter()
        result, output = await steps.run(executor, work)
        took = time.perf_counter() - t0
        left = await labelled(engine, f"{LABEL_STEP}={work.step_uuid}")

    assert result.timed_out and result.error == "timed out after 2.0s"
    assert result.exit_code == 137  # SIGKILL, after the grace
    assert "ignoring SIGTERM" in output.text
    assert took < 2.0 + STOP_BUDGET and left == []


async def test_a_notebook_runs_in_a_kernel_in_the_container_with_parameters_injected(
    images: Images, steps: Steps
) -> None:
    work = steps.work(
        steps.notebook(
            "nb.ipynb",
            ("x = 1\ny = 'default'", ["parameters"]),
            ("import os, sys\nprint(x, y, sys.prefix, os.getcwd())", []),
            ("1 / 0", []),
        ),
        parameters={"x": 5},
        step_parameters={"y": "step"},
    )
    async with opened(images, steps) as executor:
        result, output = await steps.run(executor, work)

    assert result.exit_code == 1
    assert result.error == "ZeroDivisionError: division by zero (cell 3)"
    assert "5 step /opt/venv /project-dir/steps" in output.text
    executed = nbformat.reads(result.artifacts["executed.ipynb"].decode(), as_version=4)
    assert executed.cells[1].metadata.tags == ["injected-parameters"]
    assert "x = 5" in executed.cells[1].source
    assert executed.cells[3].outputs[0].ename == "ZeroDivisionError"
    assert "NOTE: When using the `ipython kernel`" not in output.text


async def test_a_notebook_whose_kernel_dies_fails_and_an_aborted_one_is_gone_within_5s(
    images: Images, steps: Steps, engine: aiodocker.Docker
) -> None:
    dies = steps.work(steps.notebook("dies.ipynb", ("import os\nos._exit(7)", [])))
    sleeps = steps.work(steps.notebook("sleeps.ipynb", SLEEPER_CELL))
    async with opened(images, steps) as executor:
        died, _ = await steps.run(executor, dies)
        async with steps.running(executor, sleeps) as (task, cancel, output):
            await output.wait_for("ready")
            cancel.set()
            t0 = time.perf_counter()
            aborted = await asyncio.wait_for(task, RESULT_TIMEOUT)
            took = time.perf_counter() - t0
        left = await labelled(engine, f"{LABEL_RUN}={sleeps.run_uuid}")

    assert died.error == "kernel died" and died.exit_code == 7
    assert aborted.aborted and "executed.ipynb" in aborted.artifacts
    assert took < STOP_BUDGET and left == []


async def test_each_step_runs_in_its_environments_image(images: Images, steps: Steps) -> None:
    script = steps.write("where.py", "import sys\nprint('python', sys.version_info[:2])\n")
    mapped = steps.work(script, step={"environment": "env-mapped"})
    unmapped = steps.work(script, step={"environment": "env-unmapped"})
    async with opened(
        images,
        steps,
        default_image="orchest/no-such-image:missing",
        environment_images={"env-mapped": images.kernel_python},
    ) as executor:
        ran, output = await steps.run(executor, mapped)
        missing, _ = await steps.run(executor, unmapped)

    assert ran == ExecutionResult(0, None) and "python (3, 11)" in output.text
    assert missing == ExecutionResult(
        None, "image orchest/no-such-image:missing not found on the Docker engine"
    )


async def test_the_step_runs_as_the_configured_user(images: Images, steps: Steps) -> None:
    work = steps.work(steps.write("who.py", "import os\nprint('ids', os.getuid(), os.getgid())\n"))
    for path in (steps.dir, steps.steps, steps.steps / "who.py"):
        path.chmod(0o755)  # readable by that user
    async with opened(images, steps, user="1000:100") as executor:
        result, output = await steps.run(executor, work)

    assert result == ExecutionResult(0, None), output.text
    assert "ids 1000 100" in output.text


async def test_a_runner_in_a_container_copies_the_attempts_files_in(
    images: Images, steps: Steps
) -> None:
    # copy_files: what a runner in a container does (its /tmp is not the host's).
    script = steps.work(
        steps.write(
            "files.py",
            """\
            import json, os
            with open("/pipeline.json") as f:
                pipeline = json.load(f)
            mounts = [line.split()[4] for line in open("/proc/self/mountinfo")]
            print("STEPS", list(pipeline["steps"]), "/pipeline.json" in mounts)
            """,
        )
    )
    nb = steps.work(steps.notebook("nb.ipynb", ("print('kernel', 6 * 7)", [])))
    async with opened(images, steps, copy_files=True) as executor:
        ran, output = await steps.run(executor, script)
        executed, nb_output = await steps.run(executor, nb)

    assert ran == ExecutionResult(0, None), output.text
    assert f"STEPS ['{script.step_uuid}'] False" in output.text
    assert executed.error is None and "kernel 42" in nb_output.text


# -- reaping -------------------------------------------------------------------------------


def dead_process() -> RunnerProcess:
    """A process of this boot and pid namespace that has exited."""
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=-1)
    ticks = start_ticks(child.pid)
    assert ticks is not None
    child.communicate(b"")
    me = RunnerProcess.current()
    return RunnerProcess(me.boot_id, me.pid_namespace, child.pid, ticks)


async def sleeper(engine: aiodocker.Docker, image: str, labels: dict[str, str]) -> str:
    """A running container that does nothing; its id."""
    created = await engine.containers.create(
        {
            "Image": image,
            "Cmd": ["sleep", "600"],
            "Labels": labels,
            "HostConfig": {"NetworkMode": "host"},
        }
    )
    await created.start()
    return created.id


async def test_at_start_a_runner_reaps_the_containers_of_dead_runners(
    images: Images, steps: Steps, engine: aiodocker.Docker
) -> None:
    me = identity()
    mine = me.process
    parent = os.getppid()
    live = RunnerProcess(mine.boot_id, mine.pid_namespace, parent, start_ticks(parent) or 0)
    unseen = RunnerProcess(mine.boot_id, 1, 99999, 1)  # another pid namespace
    ids: list[str] = []
    try:
        stopped = await sleeper(engine, images.kernel_python, {})
        restarted = await sleeper(engine, images.kernel_python, {})
        running = await sleeper(engine, images.kernel_python, {})
        ids += [stopped, restarted, running]
        cases = {
            # name: (host, runner process, runner container, reaped?)
            "dead-runner": (me.host, dead_process(), None, True),
            "runner-before-me-with-my-pid": (
                me.host,
                RunnerProcess(mine.boot_id, mine.pid_namespace, mine.pid, 1),
                None,
                True,
            ),
            "previous-boot": (me.host, RunnerProcess("another-boot", 1, 1, 1), None, True),
            "live-runner": (me.host, live, None, False),
            "other-pid-namespace": (me.host, unseen, None, False),
            "other-host": (f"{me.host}-other", dead_process(), None, False),
            "runner-container-gone": ("elsewhere", unseen, "f" * 64, True),
            "runner-container-stopped": ("elsewhere", unseen, stopped, True),
            "runner-container-restarted": ("elsewhere", unseen, restarted, True),
            "runner-container-running": ("elsewhere", unseen, running, False),
        }
        # Run labels of this test's own: the same test elsewhere on the shared
        # engine (another checkout, another worker) has containers of these names.
        tag = uuid4().hex
        for name, (host, process, runner_container, _) in cases.items():
            labels = {
                LABEL_RUN: f"{name}-{tag}",
                LABEL_RUNNER: f"{host}:{process.pid}:{uuid4().hex}",
                LABEL_HOST: host,
                LABEL_PROCESS: process.label,
            }
            if runner_container:
                labels[LABEL_CONTAINER] = runner_container
            ids.append(await sleeper(engine, images.kernel_python, labels))
        await engine.containers.container(stopped).kill()
        await engine.containers.container(restarted).restart(timeout=0)
        async with opened(images, steps, me):
            left = {
                c["Config"]["Labels"][LABEL_RUN].removesuffix(f"-{tag}")
                for c in await labelled(engine, LABEL_RUNNER)
                if c["Config"]["Labels"][LABEL_RUN].endswith(f"-{tag}")
            }
    finally:
        for container_id in ids:
            with contextlib.suppress(aiodocker.DockerError):
                await engine.containers.container(container_id).delete(force=True)

    assert left == {name for name, (*_, reaped) in cases.items() if not reaped}


# -- through the whole stack ---------------------------------------------------------------


def docker_runner(images: Images, data_dir: Path, **extra: Any) -> dict[str, Any]:
    return {
        "executor": "docker",
        "default_step_image": images.kernel_python,
        "docker_data_dir": data_dir,
        **extra,
    }


@pytest.fixture
async def stack(
    service_settings: Callable[..., Any], images: Images, tmp_path: Path
) -> AsyncIterator[Stack]:
    runner = docker_runner(images, tmp_path / "data")
    async with whole_stack(service_settings, runner_overrides=runner) as s:
        yield s


PRODUCE = """\
import orchest
step_params, pipeline_params = orchest.parameters.get_params()
assert step_params == {"n": 3}, step_params
assert pipeline_params == {"greeting": "hello", "scale": 2}, pipeline_params
assert n == 3  # injected over the parameters cell's default
numbers = [i * orchest.get_pipeline_param("scale") for i in range(orchest.get_step_param("n"))]
orchest.output(numbers, name="numbers")
print("produced", numbers)
"""

FIRST = """\
import orchest
import pyarrow as pa
orchest.output(pa.table({"a": [1, 2]}), name=None)
"""

SECOND = """\
import orchest
orchest.output({"from": "second"}, name=None)
"""

CONSUME = """\
import json
import orchest
inputs = orchest.get_inputs()
unnamed = inputs["unnamed"]
print("NUMBERS " + json.dumps(inputs["numbers"]))
print("UNNAMED " + json.dumps([unnamed[0], unnamed[1].to_pydict()]))
print("PARAMS", orchest.get_pipeline_param("greeting"), orchest.get_step_param("missing", "fallback"))
"""


async def test_orchest_notebooks_pass_data_with_the_sdk_in_docker_steps(
    stack: Stack, tmp_path: Path
) -> None:
    project = Project(tmp_path / "project", parameters={"greeting": "hello", "scale": 2})
    project.step(
        "produce",
        "produce.ipynb",
        notebook(PRODUCE, parameters_cell="n = 1"),
        parameters={"n": 3},
    )
    project.step("first", "scripts/first.py", FIRST)
    project.step("second", "second.ipynb", notebook(SECOND))
    # Unnamed inputs come in the order of the incoming connections, as in Orchest.
    project.step(
        "consume", "consume.ipynb", notebook(CONSUME), parents=("second", "produce", "first")
    )

    run = await stack.run_to_end(project.body(), timeout=RESULT_TIMEOUT)

    statuses = {s["step_uuid"]: (s["status"], s["error"]) for s in run["pipeline_steps"]}
    assert run["status"] == "SUCCESS", statuses
    logs = (await stack.http.get(f"/api/runs/{run['uuid']}/steps/consume/logs")).text
    assert "NUMBERS [0, 2, 4]" in logs
    assert 'UNNAMED [{"from": "second"}, {"a": [1, 2]}]' in logs
    assert "PARAMS hello fallback" in logs
    produced = (await stack.http.get(f"/api/runs/{run['uuid']}/steps/produce/logs")).text
    assert "produced [0, 2, 4]" in produced
    artifact = await stack.http.get(
        f"/api/runs/{run['uuid']}/steps/consume/artifacts/executed.ipynb"
    )
    assert artifact.status_code == 200 and "NUMBERS [0, 2, 4]" in artifact.text
    data = project.root / ".orchest" / "pipelines" / project.uuid / "data"
    assert sorted(p.name for p in data.iterdir()) == ["first", "produce", "second"]


async def test_abort_kills_the_step_container_within_5s(
    stack: Stack, tmp_path: Path, engine: aiodocker.Docker
) -> None:
    project = Project(tmp_path / "project")
    project.step("sleeper", "sleep.py", SLEEPER)
    run = await stack.start_run(project.body())
    await eventually(
        lambda: _logged(stack.http, run["uuid"], "sleeper", "ready"),
        timeout=RESULT_TIMEOUT,
        what="the step's first output",
    )
    assert await labelled(engine, f"{LABEL_RUN}={run['uuid']}")

    response = await stack.http.delete(f"/api/runs/{run['uuid']}")
    assert response.status_code < 300, response.text
    took = await gone_within(engine, f"{LABEL_RUN}={run['uuid']}", STOP_BUDGET)

    await stack.events(run["uuid"])
    final = (await stack.http.get(f"/api/runs/{run['uuid']}")).json()
    assert final["status"] == "ABORTED"
    print(f"container gone {took:.2f}s after the abort request")


async def _logged(http: httpx.AsyncClient, run: str, step: str, text: str) -> bool | None:
    response = await http.get(f"/api/runs/{run}/steps/{step}/logs")
    return True if text in response.text else None


async def test_a_runner_killed_mid_step_leaves_no_container_after_the_next_start(
    service_settings: Callable[..., Any], images: Images, tmp_path: Path, engine: aiodocker.Docker
) -> None:
    # A host name of this test's own: a runner that another test starts on
    # this machine meanwhile reaps the orphans of its own host name only, and
    # would otherwise remove the killed runner's container before the check.
    runner_values = docker_runner(
        images,
        tmp_path / "data",
        ack_wait_seconds=3.0,
        heartbeat_seconds=1.0,
        instance_host=f"killed-runner-test-{uuid4().hex[:8]}",
    )
    project = Project(tmp_path / "project")
    project.step("sleeper", "sleep.py", SLEEPER)
    async with AsyncExitStack() as services:
        jobs_dir = Path(services.enter_context(tempfile.TemporaryDirectory()))
        scheduler: SchedulerSettings = service_settings(SchedulerSettings, jobs_dir=jobs_dir)
        await services.enter_async_context(running_service(build_scheduler(scheduler), scheduler))
        gateway: GatewaySettings = service_settings(GatewaySettings, port=free_port())
        await services.enter_async_context(running_service(build_gateway(gateway), gateway))
        http = await services.enter_async_context(
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.port}", timeout=30.0)
        )
        # The first runner, a process of its own, is killed mid-step.
        first: RunnerSettings = service_settings(RunnerSettings, **runner_values)
        log = services.enter_context((tmp_path / "first-runner.log").open("w"))
        killed = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "orchest_step_runner",
            env={**ENV_WITHOUT_ORCHEST, **_environment(first)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        services.push_async_callback(_kill, killed)
        created = await http.post("/api/runs", json=project.body())
        assert created.status_code == 201, created.text
        run = created.json()["uuid"]
        [container] = await eventually(
            lambda: _running(engine, f"{LABEL_RUN}={run}"),
            timeout=RESULT_TIMEOUT,
            what="the step's container",
        )
        assert container["Config"]["Labels"][LABEL_RUNNER].split(":")[1] == str(killed.pid)
        await _kill(killed)
        await asyncio.sleep(1.0)  # wait-ok: nothing else removes it meanwhile (a negative check)
        assert await labelled(engine, f"{LABEL_RUN}={run}")  # orphaned, still there

        # The next runner (same host) removes it when it starts.
        second: RunnerSettings = service_settings(RunnerSettings, **runner_values)
        async with running_service(build_runner(second), second):
            await eventually(
                lambda: _only_attempt_after(engine, run, container["Id"]),
                timeout=10.0,
                what="the killed runner's container reaped",
            )
            response = await http.delete(f"/api/runs/{run}")
            assert response.status_code < 300, response.text
            await gone_within(engine, f"{LABEL_RUN}={run}", STOP_BUDGET)


async def _running(engine: aiodocker.Docker, label: str) -> list[dict[str, Any]] | None:
    found = [c for c in await labelled(engine, label) if c["State"]["Running"]]
    return found or None


async def _only_attempt_after(engine: aiodocker.Docker, run: str, old_id: str) -> bool | None:
    """True once the old container is gone (a later attempt's may run)."""
    ids = {c["Id"] for c in await labelled(engine, f"{LABEL_RUN}={run}")}
    return True if old_id not in ids else None


def _environment(settings: RunnerSettings) -> dict[str, str]:
    """``ORCHEST_*`` variables giving a runner process these settings."""
    wanted = {
        "nats_url",
        "bus_prefix",
        "executor",
        "default_step_image",
        "docker_data_dir",
        "ack_wait_seconds",
        "heartbeat_seconds",
        "instance_host",
    }
    values = settings.model_dump(include=wanted, mode="json")
    return {f"ORCHEST_{name.upper()}": str(value) for name, value in values.items()}


async def _kill(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGKILL)
        await process.wait()
