"""JupyterLab in a process session, as a person uses it (``lab_browser``):
the session launched through the API, its ``jupyter_url`` opened in headless
Chromium, a notebook of the project opened and its cell run. The output must
come from a kernel that the session's Enterprise Gateway started: the pid
the cell prints has EG's pid among its ancestors.

Screenshots are written to ``$ORCHEST_TEST_SCREENSHOTS`` when it is set (else
to the test's temporary directory), to look at.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from jupyter_harness import auth
from lab_browser import launch, run_in_session_lab, write_project
from runs_harness import Stack, whole_stack

pytestmark = pytest.mark.timeout(300)

PROJECT = "5e7c1b2a-3d4f-4a5b-8c6d-7e8f9a0b1c2d"
PIPELINE = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f2a3b4c5d"


@pytest.fixture
async def stack(service_settings: Callable[..., Any]) -> AsyncIterator[Stack]:
    async with whole_stack(service_settings, sessions={}, runner=False) as s:
        yield s


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "project", PIPELINE)


async def server_log(view: dict[str, Any], role: str) -> str:
    return await asyncio.to_thread(Path(view["details"]["processes"][role]["log"]).read_text)


def ancestors(pid: int) -> list[int]:
    return [p.pid for p in psutil.Process(pid).parents()]


async def test_lab_opens_in_the_pipeline_folder_and_runs_a_notebook_on_a_kernel_eg_started(
    stack: Stack, project: Path, tmp_path: Path
) -> None:
    view = await launch(stack, project, PROJECT, PIPELINE, "process")
    gateway_pid = view["details"]["processes"]["enterprise-gateway"]["pid"]
    try:
        printed = await run_in_session_lab(view, tmp_path, "lab-process")
    except BaseException:
        for role in view["details"]["processes"]:
            print(f"--- {role}:\n{(await server_log(view, role))[-6000:]}")
        raise
    finally:
        await stack.http.delete(f"/api/sessions/{PROJECT}/{PIPELINE}")

    kernel_pid = int(printed.split()[0])
    assert printed == f"{kernel_pid} from EG"
    assert gateway_pid in ancestors(kernel_pid), (kernel_pid, gateway_pid)


async def test_lab_reaches_nothing_beyond_the_session(stack: Stack, project: Path) -> None:
    """Lab's extension manager lists the installed extensions only (no PyPI
    search), and neither news nor a newer release is looked up."""
    view = await launch(stack, project, PROJECT, PIPELINE, "process")
    url, token = view["jupyter_url"], view["jupyter_token"]
    try:
        async with httpx.AsyncClient(headers=auth(token), timeout=30) as http:
            page = await http.get(f"{url}lab")
            assert page.status_code == 200
            found = await http.get(
                f"{url}lab/api/extensions", params={"query": "jupyter", "page": 1, "per_page": 50}
            )
            assert found.status_code == 200, found.text
            # PyPI's extensions matching "jupyter" with its default manager.
            assert all(e["installed"] for e in found.json()), "nothing offered from PyPI"
            news = await http.get(f"{url}lab/api/news")
            assert news.json() == {"news": []}
            update = await http.get(f"{url}lab/api/update")
            assert update.json() == {"notification": None}
        log = await server_log(view, "jupyter-server")
        assert "Extension Manager is 'readonly'" in log
        for host in ("pypi.org", "github.io", "github.com"):
            assert host not in log
    finally:
        await stack.http.delete(f"/api/sessions/{PROJECT}/{PIPELINE}")
