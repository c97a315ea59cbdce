"""What the dashboard's browser tests share: the built app, a whole stack with
API tokens and the quickstart project, a second project whose one step sleeps,
and a script of ``ui/e2e`` run in Debian's chromium, its findings returned
(a module of its own name: test folders' ``conftest`` modules share one)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_stack import Stack, make_stack
from lab_browser import CHROMIUM_ARGS
from playwright.sync_api import Page, expect, sync_playwright

from support import REPO_ROOT

UI = REPO_ROOT / "ui"
CHROMIUM = Path("/usr/bin/chromium")
TOKEN = "dashboard-e2e-token-0123456789"
UI_TIMEOUT_MS = 120_000
"""Generous: the machine is shared."""
QUICKSTART_STEPS = ["Get data", "Clean", "Stats", "Features", "Train", "Report"]


def dashboard_stack(workdir: Path) -> Stack:
    """A stack whose gateway wants ``TOKEN`` and serves the built dashboard."""
    assert (UI / "dist" / "index.html").exists(), "the dashboard is not built: run make install"
    return make_stack(
        workdir, ORCHEST_API_TOKENS=TOKEN, ORCHEST_API_TOKEN=TOKEN, ORCHEST_UI_DIR=str(UI / "dist")
    )


@contextmanager
def quickstart_dashboard(workdir: Path) -> Iterator[tuple[Stack, str]]:
    """A ``dashboard_stack`` up with the quickstart project made; the stack and
    what ``orchest up`` printed. Brought down after, whatever happened."""
    stack = dashboard_stack(workdir)
    try:
        up = stack.up()
        with api(stack) as http:
            make_quickstart(http)
        yield stack, up.stdout
    finally:
        stack.orchest("down")


def api(stack: Stack) -> httpx.Client:
    return httpx.Client(
        base_url=stack.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30.0
    )


def screenshots_dir(tmp_path: Path) -> Path:
    """``ORCHEST_TEST_SCREENSHOTS`` when set (how ``docs/images`` is refreshed), else the test's own."""
    shots = Path(os.environ.get("ORCHEST_TEST_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    return shots


def make_quickstart(http: httpx.Client) -> dict[str, Any]:
    """A project "demo" from the quickstart template."""
    created = http.post("/api/projects", json={"name": "demo", "template": "quickstart"})
    assert created.status_code == 201, created.text
    project: dict[str, Any] = created.json()
    return project


def make_pipeline(
    http: httpx.Client,
    project: str,
    name: str,
    files: dict[str, tuple[str, str]],
    steps: dict[str, dict[str, Any]],
    settings: dict[str, Any] | None = None,
) -> tuple[str, str]:
    """A project ``project`` whose pipeline ``name`` has ``steps`` (key ->
    step fields: title, file_path...) in a row, over ``files`` (path ->
    (template, content)), with ``settings`` over the pipeline's; returns the
    project's and the pipeline's uuids."""
    made = http.post("/api/projects", json={"name": project})
    assert made.status_code == 201, made.text
    base = f"/api/projects/{made.json()['uuid']}"
    for path, (template, content) in files.items():
        created = http.post(f"{base}/files", json={"path": path, "template": template})
        assert created.status_code == 201, created.text
        written = http.put(
            f"{base}/files/content", params={"path": path}, json={"content": content}
        )
        assert written.status_code == 200, written.text
    pipeline = http.post(f"{base}/pipelines", json={"path": f"{name}.orchest", "name": name})
    assert pipeline.status_code == 201, pipeline.text
    document = pipeline.json()
    definition = dict(document["definition"])
    definition["steps"] = {
        key: {
            "uuid": key,
            "environment": "",
            "meta_data": {"hidden": False, "position": [100 + 250 * i, 100]},
            **fields,
        }
        for i, (key, fields) in enumerate(steps.items())
    }
    if settings:
        definition["settings"] = {**definition.get("settings", {}), **settings}
    saved = http.put(
        f"{base}/pipelines/{document['uuid']}",
        json=definition,
        headers={"If-Match": f'"{document["etag"]}"'},
    )
    assert saved.status_code == 200, saved.text
    return made.json()["uuid"], document["uuid"]


def make_long_pipeline(http: httpx.Client) -> tuple[str, str]:
    """A project "sleeper" whose pipeline "long" has one step, Sleep: it
    prints, then sleeps; returns the project's and the pipeline's uuids."""
    return make_pipeline(
        http,
        "sleeper",
        "long",
        {"sleep.sh": ("shell", "echo sleeping\nsleep 120\n")},
        {"sleep": {"title": "Sleep", "file_path": "sleep.sh"}},
    )


def browser_run(
    script: str, url: str, shots: Path, *args: str, timeout: float = 600
) -> dict[str, Any]:
    """``node ui/e2e/<script> URL TOKEN SHOTS CHROMIUM ARGS...``: what it saw."""
    node = shutil.which("node")
    assert node, "the dashboard tests need node (Node 20)"
    assert CHROMIUM.exists(), "the dashboard tests need chromium: apt-get install -y chromium"
    assert (UI / "node_modules" / "playwright-core").is_dir(), "run make install (npm ci in ui/)"
    result = subprocess.run(
        [node, f"e2e/{script}", url, TOKEN, str(shots), str(CHROMIUM), *args],
        cwd=UI,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    seen: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return seen


@contextmanager
def signed_in_page(url: str, profile: Path) -> Iterator[Page]:
    """A fresh Chromium profile on the dashboard at ``url``, past its token
    prompt, driven from Python (the editor's test checks files on disk between
    its steps)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (scripts/test-env.sh)")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1440, "height": 900},
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(UI_TIMEOUT_MS)
            expect.set_options(timeout=UI_TIMEOUT_MS)
            page.goto(url + "/")
            page.fill("[data-testid=token-input]", TOKEN)
            page.click("button[type=submit]")
            page.wait_for_selector("[data-testid=health]")
            yield page
        finally:
            context.close()
