"""Using a session's JupyterLab as a person does, in headless Chromium
(Debian's ``chromium``, driven by Playwright; no browser is downloaded): a
project with a pipeline and a notebook in ``analysis/``, the session
launched through the API, Lab opened from the session's link, the notebook
opened and its cell run."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from integration.runs_harness import Stack, event_log
from playwright.async_api import WebSocket, async_playwright, expect

from orchest_schemas.events import SessionStatusChanged

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
PIPELINE_PATH = "analysis/pipeline.orchest"


def write_project(root: Path, pipeline_uuid: str) -> Path:
    """A project whose pipeline lives in ``analysis/`` beside its notebook
    (``explore.ipynb``, one cell: ``CODE``); a file at the project's root
    shows where the file browser opened."""
    (root / "analysis").mkdir(parents=True)
    (root / "README.md").write_text("# at the project's root\n")
    (root / PIPELINE_PATH).write_text(
        json.dumps({"name": "lab", "uuid": pipeline_uuid, "version": "1.0", "steps": {}})
    )
    cell = {
        "cell_type": "code",
        "execution_count": None,
        "id": "pid",
        "metadata": {},
        "outputs": [],
        "source": [CODE],
    }
    notebook = {
        "cells": [cell],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (root / "analysis" / "explore.ipynb").write_text(json.dumps(notebook))
    return root


def screenshots_dir(tmp_path: Path) -> Path:
    """``$ORCHEST_TEST_SCREENSHOTS`` when set (to look at), else the test's own."""
    folder = Path(os.environ.get("ORCHEST_TEST_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def launch(
    stack: Stack, project: Path, project_uuid: str, pipeline_uuid: str, runtime: str
) -> dict[str, Any]:
    """The pipeline's session launched through the API, once ``RUNNING``: its view."""
    async with event_log(stack, stack.bus.session_event(project_uuid, pipeline_uuid)) as log:
        created = await stack.http.post(
            "/api/sessions",
            json={
                "project_uuid": project_uuid,
                "pipeline_uuid": pipeline_uuid,
                "project_dir": str(project),
                "pipeline_path": PIPELINE_PATH,
                "runtime": runtime,
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
    response = await stack.http.get(f"/api/sessions/{project_uuid}/{pipeline_uuid}")
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


async def run_notebook_in_lab(
    jupyter_url: str, token: str, *, profile: Path, screenshots: Path, name: str
) -> str:
    """Open the session's link (URL and token, as the CLI prints it), check
    Lab opened in ``analysis/``, offline, open ``explore.ipynb``, run its
    cell once the kernel answers, and return what the cell printed.
    Screenshots: ``<name>-opened.png``, ``<name>-cell-ran.png``."""
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (scripts/test-env.sh)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch_persistent_context(
            str(profile),  # a fresh profile
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
            await page.goto(f"{jupyter_url}?token={token}")
            await page.wait_for_url(re.compile(r"/lab/tree/analysis"))
            listing = page.locator(".jp-DirListing-content")
            await expect(listing.get_by_text("explore.ipynb")).to_be_visible()
            await expect(listing.get_by_text("pipeline.orchest")).to_be_visible()
            await expect(listing.get_by_text("README.md")).to_have_count(0)
            await page.screenshot(path=screenshots / f"{name}-opened.png")

            config = json.loads(await page.locator("#jupyter-config-data").text_content() or "")
            assert config["extensionManager"]["can_install"] is False
            assert config["news"] == {"disabled": True}
            assert "@jupyterlab/apputils-extension:announcements" in config["disabledExtensions"]

            await listing.get_by_text("explore.ipynb").dblclick()
            notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
            # Ready: the kernel idle, and answering on the notebook's current
            # kernel websocket (Lab opens it more than once).
            await page.locator(".jp-StatusBar-Widget", has_text="Python 3 | Idle").wait_for()
            await kernel_socket.answering(UI_TIMEOUT_MS / 1000)
            await notebook.locator(".jp-Cell .cm-content").first.click()
            await page.keyboard.press("Shift+Enter")
            output = notebook.locator(".jp-OutputArea-output").first
            await expect(output).to_contain_text("from EG")
            await page.screenshot(path=screenshots / f"{name}-cell-ran.png")
            return (await output.text_content() or "").strip()
        finally:
            await browser.close()


async def run_in_session_lab(view: dict[str, Any], tmp_path: Path, name: str) -> str:
    """``run_notebook_in_lab`` on a session's view, with a fresh profile
    under ``tmp_path``."""
    return await run_notebook_in_lab(
        view["jupyter_url"],
        view["jupyter_token"],
        profile=tmp_path / f"{name}-chromium-profile",
        screenshots=screenshots_dir(tmp_path),
        name=name,
    )
