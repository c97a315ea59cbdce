"""What steps and kernels see of the stack: on a stack started by ``orchest
up`` (NATS users, a database URL, API tokens in the services' environment),
a script step, a notebook step and a session kernel dump their whole
environment. None of the stack's secrets may appear in it (the NATS
passwords, the database URL, the API token, the sessions' Jupyter and
Enterprise Gateway tokens); the contract variables and the run's variables
must."""

from __future__ import annotations

import ast
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_stack import Stack, make_stack
from jupyter_harness import execute, start_kernel
from runs_harness import Project, notebook

from orchest_cli.embedded import NatsUsers
from orchest_session_manager.runtime.venvs import default_venvs_dir
from support import eventually, launch_body

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]

TOKEN = "env-test-api-token-5f2c9a7e1b"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
PROJECT_UUID = "3e4f5a6b-7c8d-4e9f-8a0b-1c2d3e4f5a6b"
VARIABLES = {"MY_PIPELINE_VARIABLE": "pipeline-value-81d3", "ANOTHER_ONE": "x y z"}
DUMP = "import json, os\nopen({path!r}, 'w').write(json.dumps(dict(os.environ)))\n"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    """One stack, up, for the module's tests: each runs its own project (in
    its own ``workdir``) and reads only what its own steps and kernels saw."""
    # Outside pytest's basetemp, as ``workdir``: its Postgres runs as another user.
    with tempfile.TemporaryDirectory(prefix="orchest-test-") as tmp:
        s = make_stack(
            Path(tmp),
            ORCHEST_API_TOKENS=TOKEN,
            # The session environments made once for every test (not in the state dir).
            ORCHEST_SESSION_VENVS_DIR=str(default_venvs_dir()),
        )
        try:
            s.up()
            yield s
        finally:
            s.orchest("down")


def stack_secrets(stack: Stack) -> dict[str, str]:
    """Every secret the stack's services hold, by what it is."""
    info = stack.stack_file()
    users = NatsUsers.load_or_generate(stack.state.nats_users_file, "unused")
    return {
        "NATS services password": users.services_password,
        "NATS ui password": users.ui_password,
        "database URL": info["database_url"],
        "API token": TOKEN,
    }


def leaked(environment: dict[str, str], secrets: dict[str, str]) -> list[str]:
    """The secrets found in any name or value of ``environment``."""
    text = json.dumps(environment)
    return [what for what, value in secrets.items() if value and value in text]


async def test_steps_see_no_secret_of_the_stack(stack: Stack, workdir: Path) -> None:
    project = Project(workdir / "project")
    project.step("script", "script.py", DUMP.format(path="script-env.json"))
    project.step(
        "notebook",
        "notebook.ipynb",
        notebook(DUMP.format(path="notebook-env.json")),
    )
    secrets = stack_secrets(stack)
    body = project.body(
        run_config={
            "project_dir": str(project.root),
            "project_uuid": PROJECT_UUID,
            "env_variables": VARIABLES,
        }
    )
    async with httpx.AsyncClient(base_url=stack.url, headers=HEADERS, timeout=30.0) as http:
        created = await http.post("/api/runs", json=body)
        assert created.status_code == 201, created.text
        run_uuid = created.json()["uuid"]

        async def ended() -> dict[str, Any] | None:
            run: dict[str, Any] = (await http.get(f"/api/runs/{run_uuid}")).json()
            return run if run["status"] in ("SUCCESS", "FAILURE", "ABORTED") else None

        run = await eventually(ended, timeout=180, what="the run ended")
        health = (await http.get("/api/health")).json()
    assert run["status"] == "SUCCESS", run
    # In a step's own view (the runner isolates steps where it can) the
    # project is at /project-dir, else where it is on the host.
    [runner] = [s for s in health["services"] if s["name"] == "step-runner"]
    isolated = runner["instances"][0]["metadata"]["isolation"].startswith("mount-namespace")
    project_dir = "/project-dir" if isolated else str(project.root)
    for name in ("script", "notebook"):
        env = json.loads((project.root / f"{name}-env.json").read_text())
        assert leaked(env, secrets) == [], f"{name} step: {sorted(env)}"
        assert not [k for k in env if k.startswith(("ORCHEST_NATS", "ORCHEST_DATABASE"))]
        assert {k: env.get(k) for k in VARIABLES} == VARIABLES
        assert env["ORCHEST_RUN_UUID"] == run_uuid
        assert env["ORCHEST_STEP_UUID"] == name
        assert env["ORCHEST_PIPELINE_UUID"] == project.uuid
        assert env["ORCHEST_PROJECT_UUID"] == PROJECT_UUID
        assert env["ORCHEST_PROJECT_DIR"] == project_dir
        assert Path(env["ORCHEST_PIPELINE_PATH"]).name == "pipeline.json"
        assert env["PATH"] and env["HOME"]


def session_tokens(stack: Stack, view: dict[str, Any]) -> dict[str, str]:
    """A session's Jupyter token and Enterprise Gateway token."""
    config = stack.state.sessions / view["uuid"] / "config"
    gateway = json.loads((config / "jupyter_enterprise_gateway_config.json").read_text())
    return {
        f"Jupyter token of {view['uuid']}": view["jupyter_token"],
        f"Gateway token of {view['uuid']}": gateway["EnterpriseGatewayApp"]["auth_token"],
    }


async def test_kernels_see_no_secret_of_the_stack(stack: Stack, workdir: Path) -> None:
    project = workdir / "project"
    project.mkdir()
    secrets = stack_secrets(stack)
    pipelines = ["1a2b3c4d-0000-4000-8000-00000000000a", "1a2b3c4d-0000-4000-8000-00000000000b"]
    async with httpx.AsyncClient(base_url=stack.url, headers=HEADERS, timeout=30.0) as http:
        for pipeline in pipelines:
            body = launch_body(PROJECT_UUID, pipeline, project, runtime="process")
            launched = await http.post("/api/sessions", json=body)
            assert launched.status_code in (200, 201, 202), launched.text
        views = []
        for pipeline in pipelines:

            async def running(pipeline: str = pipeline) -> dict[str, Any] | None:
                view: dict[str, Any] = (
                    await http.get(f"/api/sessions/{PROJECT_UUID}/{pipeline}")
                ).json()
                assert view["status"] != "FAILED", view
                return view if view["status"] == "RUNNING" else None

            views.append(await eventually(running, timeout=240, what="the session running"))
    for view in views:
        secrets.update(session_tokens(stack, view))
    last = views[-1]
    kernel = await start_kernel(last["jupyter_url"], last["jupyter_token"])
    text = await execute(
        last["jupyter_url"],
        last["jupyter_token"],
        kernel,
        "import json, os; json.dumps(dict(os.environ))",
    )
    env = json.loads(ast.literal_eval(text))
    assert leaked(env, secrets) == [], sorted(env)
    assert not [k for k in env if k.startswith(("ORCHEST_NATS", "ORCHEST_DATABASE", "JUPYTER"))]
    assert env["ORCHEST_PROJECT_UUID"] == PROJECT_UUID
    assert env["ORCHEST_PIPELINE_UUID"] == pipelines[-1]
    assert env["ORCHEST_PROJECT_DIR"] == str(project)
    assert env["ORCHEST_SESSION_TYPE"] == "interactive"
    assert env["PATH"] and env["HOME"]
