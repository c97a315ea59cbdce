"""The bearer token the CLI sends to the API, when the API wants one.

``ORCHEST_API_TOKEN`` if set, else the first of ``ORCHEST_API_TOKENS`` (the
gateway's own list, so the shell that started a stack with tokens can talk
to it); neither set: no header, for an open API.
"""

from __future__ import annotations

import os

TOKEN_ENV = "ORCHEST_API_TOKEN"
TOKENS_ENV = "ORCHEST_API_TOKENS"


def api_token() -> str | None:
    token = os.environ.get(TOKEN_ENV, "").strip()
    if token:
        return token
    listed = [t.strip() for t in os.environ.get(TOKENS_ENV, "").split(",") if t.strip()]
    return listed[0] if listed else None


def auth_headers() -> dict[str, str]:
    """``{"Authorization": "Bearer <token>"}``, or nothing without a token."""
    token = api_token()
    return {"Authorization": f"Bearer {token}"} if token else {}
