"""The gateway serves the dashboard's build at ``/`` (``orchest_gateway.dashboard``).

In process, through the real Starlette app: the routes and the auth
middleware are the product's; no route used here touches NATS or Postgres.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from orchest_gateway.app import create_app
from orchest_gateway.deps import GatewayDeps
from orchest_gateway.settings import GatewaySettings

TOKEN = "dashboard-token-0123456789"
INDEX = "<!doctype html><title>Orchest</title><script src='/assets/index-abc123.js'></script>"


def make_build(root: Path) -> Path:
    dist = root / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text(INDEX)
    (dist / "assets" / "index-abc123.js").write_text("console.log('app')")
    (dist / "favicon.svg").write_text("<svg/>")
    (root / "secret.txt").write_text("outside the build")
    return dist


def client(ui_dir: Path, tokens: str = "") -> httpx.AsyncClient:
    settings = GatewaySettings(ui_dir=ui_dir, api_tokens=tokens)
    none: Any = None  # the routes used here reach no NATS nor Postgres
    app = create_app(GatewayDeps(settings=settings, nc=none, js=none, pool=none, version="0"))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")


async def test_index_and_spa_fallback_revalidate(tmp_path: Path) -> None:
    async with client(make_build(tmp_path)) as http:
        for path in ("/", "/index.html", "/runs/0b4e0d4c", "/projects/p/pipelines/q"):
            response = await http.get(path)
            assert response.status_code == 200, path
            assert response.text == INDEX, path
            assert response.headers["content-type"].startswith("text/html"), path
            assert response.headers["cache-control"] == "no-cache", path


async def test_hashed_assets_cached_for_a_year(tmp_path: Path) -> None:
    async with client(make_build(tmp_path)) as http:
        response = await http.get("/assets/index-abc123.js")
        assert response.status_code == 200
        assert response.text == "console.log('app')"
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        other = await http.get("/favicon.svg")
        assert other.status_code == 200
        assert other.headers["cache-control"] == "no-cache"
        missing = await http.get("/assets/index-gone.js")
        assert missing.status_code == 404
        assert "html" not in missing.headers["content-type"]
        head = await http.head("/assets/index-abc123.js")
        assert head.status_code == 200


async def test_no_escape_from_the_build(tmp_path: Path) -> None:
    dist = make_build(tmp_path)
    (dist / "link.txt").symlink_to(tmp_path / "secret.txt")
    async with client(dist) as http:
        for path in (
            "/../secret.txt",
            "/%2e%2e/secret.txt",
            "/link.txt",
            "/assets/../../secret.txt",
        ):
            response = await http.get(path)
            assert "outside the build" not in response.text, path


async def test_api_paths_stay_the_api(tmp_path: Path) -> None:
    async with client(make_build(tmp_path)) as http:
        response = await http.get("/api/no-such-thing")
        assert response.status_code == 404
        assert response.json() == {"message": "Not Found", "errors": []}
        ping = await http.get("/api/ping")
        assert ping.status_code == 204
        document = (await http.get("/api/openapi.json")).json()
        assert "/{path}" not in document["paths"]


async def test_no_build_says_so(tmp_path: Path) -> None:
    async with client(tmp_path / "nowhere") as http:
        for path in ("/", "/runs/x"):
            response = await http.get(path)
            assert response.status_code == 503, path
            assert "The dashboard is not built" in response.text
            assert "make install" in response.text


@pytest.mark.parametrize("path", ["/", "/runs/x", "/assets/index-abc123.js"])
async def test_files_open_with_tokens_api_not(tmp_path: Path, path: str) -> None:
    async with client(make_build(tmp_path), tokens=TOKEN) as http:
        assert (await http.get(path)).status_code == 200
        refused = await http.get("/api/openapi.json")
        assert refused.status_code == 401
        allowed = await http.get("/api/openapi.json", headers={"Authorization": f"Bearer {TOKEN}"})
        assert allowed.status_code == 200
        assert (await http.post(path)).status_code in (401, 405)
