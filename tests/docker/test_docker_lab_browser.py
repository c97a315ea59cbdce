"""JupyterLab in a docker session, as a person uses it (``lab_browser``):
the session launched through the API with ``runtime: docker``, its
``jupyter_url`` opened in headless Chromium, a notebook of the project
opened and its cell run. The output must come from the kernel container
that the session's Enterprise Gateway started: the pid the cell prints is,
in its container's pid namespace, a process of the session's kernel
container."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from integration.runs_harness import Stack, whole_stack
from lab_browser import launch, run_in_session_lab, write_project

from orchest_session_manager.runtime.docker_containers import PIPELINE_LABEL, ROLE_LABEL

if TYPE_CHECKING:
    from conftest import Docker, Images

pytestmark = pytest.mark.timeout(2100)  # the first test may wait for images/build.sh

PROJECT = "6b1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"


@pytest.fixture
async def stack(service_settings: Callable[..., Any], images: Images) -> AsyncIterator[Stack]:
    sessions = {
        "docker_gateway_image": images.enterprise_gateway,
        "docker_jupyter_image": images.jupyter_server,
        "docker_kernel_image": images.kernel_python,
    }
    async with whole_stack(service_settings, sessions=sessions, runner=False) as s:
        yield s


def kernel_namespace_pids(docker: Docker, pipeline: str) -> set[int]:
    """The pids, as their container sees them, of every process of the
    pipeline's kernel containers."""
    ids = docker(
        "ps",
        "--quiet",
        "--filter",
        f"label={PIPELINE_LABEL}={pipeline}",
        "--filter",
        f"label={ROLE_LABEL}=kernel",
    ).stdout.split()
    seen = set()
    for container in ids:
        for host_pid in docker("top", container, "-eo", "pid").stdout.split()[1:]:
            status = Path(f"/proc/{host_pid}/status").read_text()
            nspid = next(line for line in status.splitlines() if line.startswith("NSpid:"))
            seen.add(int(nspid.split()[-1]))
    return seen


async def test_lab_in_a_docker_session_runs_a_notebook_on_a_kernel_container_eg_started(
    stack: Stack, docker: Docker, pipeline: str, tmp_path: Path
) -> None:
    project = write_project(tmp_path / "project", pipeline)
    view = await launch(stack, project, PROJECT, pipeline, "docker")
    try:
        printed = await run_in_session_lab(view, tmp_path, "lab-docker")
        kernel_pid = int(printed.split()[0])
        assert printed == f"{kernel_pid} from EG"
        assert kernel_pid in kernel_namespace_pids(docker, pipeline)
    finally:
        await stack.http.delete(f"/api/sessions/{PROJECT}/{pipeline}")
