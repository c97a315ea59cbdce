"""JupyterLab in a session, as a person uses it: a process session launched
through the API, its ``jupyter_url`` opened in headless Chromium (Debian's
``chromium``, driven by Playwright; no browser is downloaded), a notebook of
the project opened and its cell run. The output must come from a kernel that
the session's Enterprise Gateway started: the pid the cell prints has EG's
pid among its ancestors.

Screenshots are written to ``$ORCHEST_TEST_SCREENSHOTS`` when it is set (else
to the test's temporary directory), to look at.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from jupyter_harness import auth
from playwright.async_api import WebSocket, async_playwright, expect
from runs_harness import Stack, event_log, whole_stack

from orchest_schemas.events import SessionStatusChanged

pytestmark = pytest.mark.timeout(300)

PROJECT = "5e7c1b2a-3d4f-4a5b-8c6d-7e8f9a0b1c2d"
PIPELINE = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f2a3b4c5d"
CHROMIUM = os.environ.get("ORCHEST_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CODE = 'import os; print(os.getpid(), "from EG")'
UI_TIMEOUT_MS = 120_000
"""Lab's first load and a kernel's start through EG, on a loaded machine."""


@pytest.fixture
async def stack(service_settings: Callable[..., Any]) -> AsyncIterator[Stack]:
    async with whole_stack(service_settings, sessions={}, runner=False) as s:
        yield s


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project whose pipeline lives in ``analysis/`` beside its notebook;
    a file at the project's root shows where the file browser opened."""
    root = tmp_path / "project"
    (root / "analysis").mkdir(parents=True)
    (root / "README.md").write_text("# at the project's root\n")
    (root / "analysis" / "pipeline.orchest").write_text(
        json.dumps({"name": "lab", "uuid": PIPELINE, "version": "1.0", "steps": {}})
    )
    notebook = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": "pid",
                "metadata": {},
                "outputs": [],
                "source": [CODE],
            }
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (root / "analysis" / "explore.ipynb").write_text(json.dumps(notebook))
    return root


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("ORCHEST_TEST_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def launch(stack: Stack, project: Path) -> dict[str, Any]:
    """A process session of the pipeline, once ``RUNNING``: its view."""
    async with event_log(stack, stack.bus.session_event(PROJECT, PIPELINE)) as log:
        created = await stack.http.post(
            "/api/sessions",
            json={
                "project_uuid": PROJECT,
                "pipeline_uuid": PIPELINE,
                "project_dir": str(project),
                "pipeline_path": "analysis/pipeline.orchest",
                "runtime": "process",
            },
        )
        assert created.status_code == 201, created.text
        await log.wait_for(
            lambda events: any(
                isinstance(e, SessionStatusChanged) and e.status.value in ("RUNNING", "FAILED")
                for e in events
            ),
            timeout=240,
            what="session RUNNING",
        )
    response = await stack.http.get(f"/api/sessions/{PROJECT}/{PIPELINE}")
    view: dict[str, Any] = response.json()
    assert view["status"] == "RUNNING", view
    return view


class KernelSocket:
    """Lab's latest kernel websocket (``/channels``) and whether a message
    has come from the kernel on it."""

    def __init__(self) -> None:
        self._received = asyncio.Event()

    def opened(self, socket: WebSocket) -> None:
        if "/channels" in socket.url:
            received = self._received = asyncio.Event()
            socket.on("framereceived", lambda _: received.set())

    async def answering(self, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while True:
                received = self._received
                await received.wait()
                if received is self._received:
                    return


async def server_log(view: dict[str, Any], role: str) -> str:
    return await asyncio.to_thread(Path(view["details"]["processes"][role]["log"]).read_text)


def ancestors(pid: int) -> list[int]:
    return [p.pid for p in psutil.Process(pid).parents()]


async def test_lab_opens_in_the_pipeline_folder_and_runs_a_notebook_on_a_kernel_eg_started(
    stack: Stack, project: Path, screenshots: Path, tmp_path: Path
) -> None:
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (scripts/test-env.sh)")
    view = await launch(stack, project)
    url, token = view["jupyter_url"], view["jupyter_token"]
    gateway_pid = view["details"]["processes"]["enterprise-gateway"]["pid"]
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch_persistent_context(
                str(tmp_path / "chromium-profile"),  # a fresh profile
                executable_path=CHROMIUM,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": 1280, "height": 800},
            )
            try:
                page = browser.pages[0] if browser.pages else await browser.new_page()
                kernel_socket = KernelSocket()
                page.on("websocket", kernel_socket.opened)
                page.set_default_timeout(UI_TIMEOUT_MS)
                expect.set_options(timeout=UI_TIMEOUT_MS)
                # The session's link as the CLI prints it: the URL and its token.
                await page.goto(f"{url}?token={token}")
                await page.wait_for_url(re.compile(r"/lab/tree/analysis"))
                listing = page.locator(".jp-DirListing-content")
                await expect(listing.get_by_text("explore.ipynb")).to_be_visible()
                await expect(listing.get_by_text("pipeline.orchest")).to_be_visible()
                await expect(listing.get_by_text("README.md")).to_have_count(0)
                await page.screenshot(path=screenshots / "lab-opened.png")

                config = json.loads(await page.locator("#jupyter-config-data").text_content() or "")
                assert config["extensionManager"]["can_install"] is False
                assert config["news"] == {"disabled": True}
                assert (
                    "@jupyterlab/apputils-extension:announcements" in config["disabledExtensions"]
                )

                await listing.get_by_text("explore.ipynb").dblclick()
                notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
                await expect(notebook.locator(".jp-Notebook-ExecutionIndicator")).to_have_attribute(
                    "data-status", "idle"
                )
                # Ready: the kernel idle, and answering on the notebook's
                # current kernel websocket (Lab opens it more than once).
                await page.locator(".jp-StatusBar-Widget", has_text="Python 3 | Idle").wait_for()
                await kernel_socket.answering(UI_TIMEOUT_MS / 1000)
                await notebook.locator(".jp-Cell .cm-content").first.click()
                await page.keyboard.press("Shift+Enter")
                output = notebook.locator(".jp-OutputArea-output").first
                await expect(output).to_contain_text("from EG")
                await page.screenshot(path=screenshots / "lab-cell-ran.png")
                printed = (await output.text_content() or "").strip()
            finally:
                await browser.close()
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
    view = await launch(stack, project)
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
