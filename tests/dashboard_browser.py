"""The dashboard's browser tests' common parts: a stack started by ``orchest
up`` with API tokens serving the built dashboard, and a Chromium page
(Debian's, driven by Playwright; no browser downloaded) signed in to it.
Shared by ``tests/e2e/test_dashboard.py`` and ``tests/e2e/test_editor.py``."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from e2e_stack import Stack, make_stack
from lab_browser import CHROMIUM, CHROMIUM_ARGS
from playwright.sync_api import Page, expect, sync_playwright

from support import REPO_ROOT

UI = REPO_ROOT / "ui"
TOKEN = "dashboard-e2e-token-0123456789"
UI_TIMEOUT_MS = 120_000
"""Generous: the machine is shared."""


def dashboard_stack(workdir: Path) -> Stack:
    """A stack (not up yet) whose gateway wants ``TOKEN`` and serves ``ui/dist``."""
    assert (UI / "dist" / "index.html").exists(), "the dashboard is not built: run make install"
    return make_stack(
        workdir, ORCHEST_API_TOKENS=TOKEN, ORCHEST_API_TOKEN=TOKEN, ORCHEST_UI_DIR=str(UI / "dist")
    )


def api(stack: Stack) -> httpx.Client:
    return httpx.Client(
        base_url=stack.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30.0
    )


@contextmanager
def signed_in_page(url: str, profile: Path) -> Iterator[Page]:
    """A fresh Chromium profile on the dashboard at ``url``, past its token prompt."""
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (scripts/test-env.sh)")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
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
