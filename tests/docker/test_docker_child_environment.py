"""What docker steps and docker kernels see of the service that started them:
with secrets in the step runner's and the session manager's own environment
(here, the test process's), a step (script and notebook) and a session kernel
dump their whole environment: no secret may appear in it, the contract
variables and the run's variables must. The session's tokens reach no kernel."""

from __future__ import annotations

import ast
import asyncio
import json
import os
import re
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import uuid4

import nbformat
import pytest
from jupyter_harness import execute, session_spec, start_kernel
from step_files import one_step_work

from orchest_schemas.commands import StepWork
from orchest_session_manager.runtime.docker import DockerRuntime
from orchest_session_manager.runtime.docker_containers import OWNER_LABEL, DockerImages
from orchest_step_runner.executor.docker import DockerExecutor, DockerOptions
from orchest_step_runner.executor.environment import orchest_variables
from orchest_step_runner.executor.reaping import RunnerIdentity, RunnerProcess

if TYPE_CHECKING:
    from conftest import Docker, Images

# The first test also waits for images/build.sh: minutes on a first build.
pytestmark = pytest.mark.timeout(2100)

RESULT_TIMEOUT = 120.0
PROJECT_UUID = "2c7d9e1f-4a3b-4c5d-8e6f-708192a3b4c5"
SECRETS = {
    "ORCHEST_NATS_PASSWORD": "nats-secret-3e8a",
    "ORCHEST_DATABASE_URL": "postgresql://orchest@127.0.0.1:5432/db-secret-91c2",
    "ORCHEST_API_TOKENS": "api-secret-6d0b",
}
VARIABLES = {"MY_PIPELINE_VARIABLE": "pipeline-value-4f1a"}
DUMP = "import json, os\nprint('ENV ' + json.dumps(dict(os.environ)))\n"


@pytest.fixture
def service_secrets(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    return dict(SECRETS)


def leaked(environment: dict[str, str], secrets: dict[str, str]) -> list[str]:
    text = json.dumps(environment)
    return sorted(name for name, value in secrets.items() if value in text)


def step_work(project: Path, file_path: str) -> StepWork:
    return one_step_work(
        project,
        file_path,
        step_uuid="s",
        pipeline={"name": "environment"},
        step={"title": "s"},
        project_uuid=PROJECT_UUID,
        env=VARIABLES,
    )


@pytest.mark.parametrize("kind", ["script", "notebook"])
async def test_a_docker_step_sees_no_secret_of_the_runner(
    images: Images, tmp_path: Path, service_secrets: dict[str, str], kind: str
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    if kind == "script":
        (project / "dump.py").write_text(DUMP)
        file_path = "dump.py"
    else:
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
        nb.cells = [nbformat.v4.new_code_cell(textwrap.dedent(DUMP))]
        nbformat.write(nb, project / "dump.ipynb")
        file_path = "dump.ipynb"
    work = step_work(project, file_path)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    options = DockerOptions(default_image=images.kernel_python, data_dir=tmp_path / "data")
    # A host name of the test's own: its reaping judges only the test's containers.
    me = RunnerIdentity(
        f"test:{os.getpid()}:{uuid4().hex}", f"test-{uuid4().hex}", RunnerProcess.current()
    )
    chunks: list[str] = []

    async def output(text: str) -> None:
        chunks.append(text)

    async with DockerExecutor.open(me, options) as executor:
        result = await asyncio.wait_for(
            executor.execute(work, output=output, cancel=asyncio.Event(), scratch_dir=scratch),
            RESULT_TIMEOUT,
        )
    text = "".join(chunks)
    assert result.exit_code == 0, text
    match = re.search(r"ENV (\{.*\})", text)
    assert match, text
    env: dict[str, str] = json.loads(match.group(1))
    assert leaked(env, service_secrets) == [], sorted(env)
    assert {k: env.get(k) for k in VARIABLES} == VARIABLES
    contract = orchest_variables(
        work, project_dir=Path("/project-dir"), pipeline_path=Path("/pipeline.json")
    )
    assert {k: v for k, v in env.items() if k.startswith("ORCHEST_")} == contract


@pytest.fixture
async def runtime(tmp_path: Path, docker: Docker, images: Images) -> AsyncIterator[DockerRuntime]:
    owner = f"test-{uuid4().hex[:12]}"
    runtime = DockerRuntime(
        tmp_path / "sessions",
        owner=owner,
        images=DockerImages(
            enterprise_gateway=images.enterprise_gateway,
            jupyter_server=images.jupyter_server,
            kernel=images.kernel_python,
        ),
        launch_timeout=120,
    )
    try:
        yield runtime
    finally:
        ids = docker("ps", "--all", "--quiet", "--filter", f"label={OWNER_LABEL}={owner}")
        if ids.stdout.split():
            docker("rm", "--force", "--volumes", *ids.stdout.split())


async def test_a_docker_kernel_sees_no_secret_of_the_manager(
    runtime: DockerRuntime, tmp_path: Path, service_secrets: dict[str, str]
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    pipeline_uuid = str(uuid4())
    spec = session_spec(project, PROJECT_UUID, pipeline_uuid, **VARIABLES)
    endpoints = await runtime.launch(spec)
    try:
        kernel = await start_kernel(endpoints.jupyter_url, endpoints.jupyter_token)
        text = await execute(
            endpoints.jupyter_url,
            endpoints.jupyter_token,
            kernel,
            "import json, os; json.dumps(dict(os.environ))",
        )
    finally:
        await runtime.stop(spec.session_uuid)
    env = json.loads(ast.literal_eval(text))
    secrets = {
        **service_secrets,
        "jupyter token": endpoints.jupyter_token,
        "gateway token": endpoints.details["gateway_token"],
    }
    assert leaked(env, secrets) == [], sorted(env)
    assert {k: env.get(k) for k in VARIABLES} == VARIABLES
    assert env["ORCHEST_PIPELINE_UUID"] == pipeline_uuid
    assert env["ORCHEST_PROJECT_DIR"] == "/project-dir"
