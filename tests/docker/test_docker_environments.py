"""Docker environments (``docs/environments.md#docker-builds``) against the
real dockerd: an image built from the kernel image and a setup script that
``pip install``s from PyPI, a docker step and a docker session's kernel in
it, and a job that keeps the
image it pinned at its creation across a rebuild, whose older unpinned
images are removed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from environments_kit import (
    PACKAGE,
    build_end,
    create_env,
    log_of,
    run_step,
    session_kernel_runs,
)
from integration.runs_harness import Project, Stack, event_log, whole_stack

from orchest_schemas.events import RunStatusChanged

if TYPE_CHECKING:
    from conftest import Docker, Images

pytestmark = pytest.mark.timeout(2100)


@pytest.fixture
async def stack(
    service_settings: Callable[..., Any], images: Images, tmp_path: Path
) -> AsyncIterator[Stack]:
    runner = {
        "executor": "docker",
        "default_step_image": images.kernel_python,
        "docker_data_dir": tmp_path / "data",
    }
    sessions = {
        "environment_builder": "docker",
        "docker_gateway_image": images.enterprise_gateway,
        "docker_jupyter_image": images.jupyter_server,
        "docker_kernel_image": images.kernel_python,
    }
    async with whole_stack(service_settings, runner_overrides=runner, sessions=sessions) as s:
        yield s


@pytest.fixture
def built_for(docker: Docker) -> Iterator[list[str]]:
    """Environment uuids whose images are removed after the test."""
    environments: list[str] = []
    yield environments
    for environment in environments:
        found = docker("images", "--quiet", "--filter", f"label=orchest.environment={environment}")
        if found.stdout.split():
            docker("rmi", "--force", *set(found.stdout.split()))


def image_exists(docker: Docker, tag: str) -> bool:
    return docker("image", "inspect", tag).returncode == 0


async def test_a_docker_environment_installs_with_pip_and_a_job_keeps_its_pinned_image(
    stack: Stack, docker: Docker, built_for: list[str]
) -> None:
    made = await stack.http.post("/api/projects", json={"name": "docker-envs"})
    assert made.status_code == 201, made.text
    project = made.json()
    pid, folder = project["uuid"], Path(project["path"])
    # The script sees the project's files in /project-dir, as in Orchest:
    # not what .gitignore leaves out, nor the project's .orchest.
    (folder / "requirements.txt").write_text(f"{PACKAGE}\n")
    (folder / ".gitignore").write_text("data/\n")
    (folder / "data").mkdir()
    (folder / "data" / "big.csv").write_text("1,2\n")
    script = (
        "set -e\npip install -r requirements.txt\necho first > /opt/env-build\n"
        "test ! -e data && test ! -e .orchest && echo 'not sent: data, .orchest'\n"
    )
    env = await create_env(stack, pid, name="jokes", setup_script=script)
    built_for.append(env["uuid"])
    first = await build_end(stack, pid, env["uuid"], env["latest_build"]["uuid"], timeout=900)
    log = await log_of(stack, pid, env["uuid"], first["uuid"])
    assert first["status"] == "SUCCESS", (first, log)
    assert first["image"] == f"orchest-env/{env['uuid']}:{first['uuid']}"
    assert first["size_bytes"] > 0 and "pyjokes" in log, log
    assert "not sent: data, .orchest" in log, log
    labels = docker("image", "inspect", "--format", "{{json .Config.Labels}}", first["image"])
    assert env["uuid"] in labels.stdout and first["uuid"] in labels.stdout

    code = "import pyjokes\nprint('from', pyjokes.__file__, open('/opt/env-build').read())\n"
    step = await run_step(stack, folder, env["uuid"], "use.py", code)
    assert step["status"] == "SUCCESS", step
    assert "from /opt/venv/" in step["log"] and "first" in step["log"], step["log"]
    # A docker session offers a kernel of the environment, in its image.
    seen = await session_kernel_runs(
        stack, project, env["uuid"], "docker", "import pyjokes; open('/opt/env-build').read()"
    )
    assert "first" in seen, seen

    # A job made now pins the first image; a rebuild changes interactive runs only.
    pipeline = Project(folder)
    pipeline.step("s", "which.py", "print('build', open('/opt/env-build').read())\n",
                  environment=env["uuid"])  # fmt: skip
    body = {
        "name": "pinned",
        "pipeline_definition": pipeline.definition(),
        "project_dir": str(folder),
        "project_uuid": pid,
        "schedule": {"cron_schedule": "0 0 1 1 *"},
    }
    job = await stack.http.post("/api/jobs", json=body)
    assert job.status_code == 201, job.text
    changed = await stack.http.patch(
        f"/api/projects/{pid}/environments/{env['uuid']}",
        json={"setup_script": "echo second > /opt/env-build\n"},
    )
    assert changed.status_code == 200, changed.text
    second = await build_end(stack, pid, env["uuid"], changed.json()["latest_build"]["uuid"])
    assert second["status"] == "SUCCESS", second

    async with event_log(stack, stack.bus.job_events(job.json()["uuid"])) as events:
        triggered = await stack.http.post(f"/api/jobs/{job.json()['uuid']}/trigger")
        assert triggered.status_code == 200, triggered.text
        done = await events.wait_for(
            lambda got: any(isinstance(e, RunStatusChanged) and e.status.is_final for e in got),
            timeout=300,
            what="the job's run ended",
        )
    [run] = {e.run_uuid for e in done if isinstance(e, RunStatusChanged)}
    job_log = (await stack.http.get(f"/api/runs/{run}/steps/s/logs")).text
    assert "build first" in job_log, job_log
    interactive = await run_step(stack, folder, env["uuid"], "which.py", None)
    assert "build second" in interactive["log"], interactive
    assert image_exists(docker, first["image"]), "the pinned image was removed"

    # A third build: the second (neither the latest nor pinned) is removed.
    third = await stack.http.post(f"/api/projects/{pid}/environments/{env['uuid']}/builds")
    assert third.status_code == 201, third.text
    ended = await build_end(stack, pid, env["uuid"], third.json()["uuid"])
    assert ended["status"] == "SUCCESS", ended
    assert not image_exists(docker, second["image"])
    assert image_exists(docker, first["image"]) and image_exists(docker, ended["image"])
