"""The interactive API reference at ``/api/docs``, with API tokens on.

The page and its files are open, served from the wheel (no CDN); the
document it shows stays behind the token. In Debian's chromium
(``ui/e2e/api_docs.mjs``, every request off the gateway's origin refused):
the dashboard's header links to it; the page asks for the token, then renders every operation of the document
with its examples, and "Try it out" is answered (the call carried the token).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from runs_harness import Stack, whole_stack
from test_auth import gateway_overrides

from support import REPO_ROOT

TOKEN = "api-docs-token-0123456789"
UI = REPO_ROOT / "ui"
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
async def stack(service_settings: Callable[..., Any]) -> AsyncIterator[Stack]:
    async with whole_stack(gateway_overrides(service_settings, api_tokens=TOKEN)) as s:
        yield s


async def test_the_page_and_its_files_are_open_the_document_is_not(stack: Stack) -> None:
    page = await stack.http.get("/api/docs")
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert "/api/docs/swagger-ui-bundle.js" in page.text
    assert "https://" not in page.text and "cdn" not in page.text.lower()
    script = await stack.http.get("/api/docs/swagger-ui-bundle.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert len(script.content) > 500_000  # the whole bundle, from the wheel
    css = await stack.http.get("/api/docs/swagger-ui.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    # Only the page's files: the rest of the bundle's folder is not served.
    assert (await stack.http.get("/api/docs/index.html")).status_code == 404
    assert (await stack.http.get("/api/docs/..%2F__init__.py")).status_code == 404
    # The document and the operations keep their token; writes to the page too.
    assert (await stack.http.get("/api/openapi.json")).status_code == 401
    assert (await stack.http.post("/api/docs", json={})).status_code == 401
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert (await stack.http.get("/api/openapi.json", headers=auth)).status_code == 200


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where the screenshots go, once the browser's prerequisites are there."""
    assert shutil.which("node"), "the browser tests need node (Node 20)"
    assert CHROMIUM.exists(), "the browser tests need chromium: apt-get install -y chromium"
    assert (UI / "node_modules" / "playwright-core").is_dir(), "run make install (npm ci in ui/)"
    folder = Path(os.environ.get("ORCHEST_TEST_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.mark.timeout(600)  # chromium and its page, on a shared 2-core machine
async def test_the_reference_renders_every_operation_offline(stack: Stack, shots: Path) -> None:
    node = shutil.which("node")
    assert node
    url = str(stack.http.base_url).rstrip("/")
    # The gateway runs in this event loop: the browser is awaited, not waited for.
    process = await asyncio.create_subprocess_exec(
        node,
        "e2e/api_docs.mjs",
        url,
        TOKEN,
        str(shots),
        str(CHROMIUM),
        cwd=UI,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), 300)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, out.decode() + err.decode()
    seen = json.loads(out.decode().strip().splitlines()[-1])
    document = (
        await stack.http.get("/api/openapi.json", headers={"Authorization": f"Bearer {TOKEN}"})
    ).json()
    operations = sum(len(item) for item in document["paths"].values())

    assert seen["ok"], f"{seen.get('failure')} at {seen.get('at')} (screenshots in {shots})"
    assert seen["errors"] == []
    assert seen["outside"] == [], "the page asked for something off the gateway"
    assert seen["dashboardLink"] == {"text": "API reference", "href": "/api/docs"}
    assert seen["tokenPrompt"]
    assert seen["title"].startswith("Orchest API")
    assert seen["blocks"] == operations
    assert seen["tryItStatus"] == "200"
    assert '"pipeline_uuid"' in seen["requestExample"]
