"""The interactive API reference at ``/api/docs``: Swagger UI over
``/api/openapi.json``, its files served from the ``swagger-ui-bundle-v2``
wheel (nothing from a CDN: the page works offline).

The page and its files are open whatever ``ORCHEST_API_TOKENS`` says (they
hold no data, like the dashboard's files); the document and every "Try it
out" call need the token as the rest of the API does. The page sends the
token the dashboard keeps in the browser (``localStorage``, the same
origin), or one typed into its Authorize dialog; when the document is
refused, it asks for the token and keeps it where the dashboard does.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from swagger_ui_bundle import swagger_ui_path

from .errors import error_response

DOCS_PATH = "/api/docs"
ASSETS_DIR = Path(str(swagger_ui_path))
ASSETS = frozenset({"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"})
"""The files of the bundle the page loads; nothing else of the folder is served."""
CACHE = "public, max-age=86400"
TOKEN_KEY = "orchest.apiToken"
"""Where the dashboard keeps the token (``ui/src/auth/token.ts``)."""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Orchest API reference</title>
<link rel="stylesheet" href="{docs}/swagger-ui.css">
<link rel="icon" type="image/png" href="{docs}/favicon-32x32.png">
<style>
body {{ margin: 0; }}
.orchest-bar {{ display: flex; gap: 16px; align-items: center; padding: 10px 20px;
  background: #1f2a37; color: #dbe4ee; font-family: sans-serif; }}
.orchest-bar a {{ color: #fff; font-weight: 700; text-decoration: none; }}
.orchest-bar form[hidden] {{ display: none; }}
.orchest-bar input {{ width: 22em; }}
</style>
</head>
<body>
<div class="orchest-bar">
  <a href="/">Orchest</a><span>HTTP API reference</span>
  <form id="token-form" hidden>
    <label>This gateway wants a token (<code>ORCHEST_API_TOKENS</code>):
      <input id="token" type="password" autocomplete="off" aria-label="API token"></label>
    <button type="submit">Use it</button>
  </form>
</div>
<div id="swagger-ui"></div>
<script src="{docs}/swagger-ui-bundle.js"></script>
<script>
const KEY = "{key}";
const form = document.getElementById("token-form");
form.addEventListener("submit", (event) => {{
  event.preventDefault();
  localStorage.setItem(KEY, document.getElementById("token").value.trim());
  location.reload();
}});
window.ui = SwaggerUIBundle({{
  url: "{document}",
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: true,
  requestInterceptor: (request) => {{
    const token = localStorage.getItem(KEY);
    if (token && !request.headers.Authorization) {{
      request.headers.Authorization = "Bearer " + token;
    }}
    return request;
  }},
  responseInterceptor: (response) => {{
    if (response.status === 401 && response.url.endsWith("{document}")) {{
      form.hidden = false;
    }}
    return response;
  }},
}});
</script>
</body>
</html>
"""


async def docs_page(request: Request) -> Response:
    page = PAGE.format(docs=DOCS_PATH, key=TOKEN_KEY, document="/api/openapi.json")
    return HTMLResponse(page, headers={"Cache-Control": "no-cache"})


async def docs_asset(request: Request) -> Response:
    name: str = request.path_params["name"]
    if name not in ASSETS:
        return error_response(404, "Not Found")
    return FileResponse(ASSETS_DIR / name, headers={"Cache-Control": CACHE})
