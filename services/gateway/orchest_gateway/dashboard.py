"""The web dashboard's files: the built single-page app of ``ui/`` at ``/``.

Every ``GET`` or ``HEAD`` outside ``/api`` is answered from the build folder
(``ORCHEST_UI_DIR``, by default ``ui/dist`` of the repository the gateway is
installed from): a file that exists is sent as it is, any other path gets
``index.html`` so the app's own routes (``/runs/<uuid>``...) load on a fresh
visit or a reload. Vite names the files of ``assets/`` by the hash of their
content, so they are cached for a year (``immutable``); ``index.html``, which
names them, is revalidated on every load (``no-cache``), so a new build is
seen at once. A missing asset is a 404, not the page (a script tag that got
HTML would fail obscurely).

With no build present, ``/`` answers 503 with a page saying how to build
it, instead of a bare 404. Paths under ``/api`` that no route matched stay
the API's JSON 404. The files are open whatever ``ORCHEST_API_TOKENS`` says
(they hold no data); the app asks for a token and sends it with each call.
"""

from __future__ import annotations

import os
from pathlib import Path

import anyio
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response

from .errors import error_response

API_PREFIX = "/api"
ASSETS_PREFIX = "assets/"
INDEX = "index.html"
HASHED_CACHE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

NOT_BUILT_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Orchest: dashboard not built</title></head>
<body style="font-family: sans-serif; max-width: 40rem; margin: 4rem auto; line-height: 1.5">
<h1>The dashboard is not built</h1>
<p>This gateway serves the web dashboard from <code>{folder}</code>, which holds no
<code>index.html</code>.</p>
<p>Build it with <code>make install</code> (it runs <code>npm ci</code> and
<code>npm run build</code> in <code>ui/</code>), or point <code>ORCHEST_UI_DIR</code> at a
build, then reload this page.</p>
<p>The HTTP API answers meanwhile: <a href="/api/health">/api/health</a>,
<a href="/api/openapi.json">/api/openapi.json</a>.</p>
</body></html>
"""


def is_api_path(path: str) -> bool:
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


def resolve(root: Path, relative: str) -> Path | None:
    """``relative`` inside ``root``, or None when it would lead out of it
    (``..``, an absolute path, a symlink out)."""
    if "\x00" in relative:
        return None
    candidate = os.path.realpath(os.path.join(root, relative.lstrip("/")))
    base = os.path.realpath(root)
    if candidate != base and not candidate.startswith(base + os.sep):
        return None
    return Path(candidate)


class DashboardFiles:
    """The endpoint of every non-API path: the built app's files."""

    def __init__(self, root: Path) -> None:
        self.root = root

    async def serve(self, request: Request) -> Response:
        path = request.url.path
        if is_api_path(path):
            return error_response(404, "Not Found")
        index = self.root / INDEX
        if not await anyio.Path(index).is_file():
            return HTMLResponse(
                NOT_BUILT_PAGE.format(folder=self.root),
                status_code=503,
                headers={"Cache-Control": REVALIDATE, "Retry-After": "10"},
            )
        relative = path.lstrip("/")
        if relative and relative != INDEX:
            found = resolve(self.root, relative)
            if found is not None and await anyio.Path(found).is_file():
                cache = HASHED_CACHE if relative.startswith(ASSETS_PREFIX) else REVALIDATE
                return FileResponse(found, headers={"Cache-Control": cache})
            if relative.startswith(ASSETS_PREFIX):
                return Response("no such asset", status_code=404, media_type="text/plain")
        return FileResponse(index, headers={"Cache-Control": REVALIDATE}, media_type="text/html")
