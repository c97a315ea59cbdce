"""Optional bearer-token auth of the HTTP API (``ORCHEST_API_TOKENS``).

With tokens configured, every request but ``GET /api/ping`` (liveness, for
probes that hold no secret; it says nothing but "this process answers")
needs ``Authorization: Bearer <token>`` naming one of them, else 401 with
the API's error body and ``WWW-Authenticate: Bearer``. ``GET /api/events``
also takes ``?access_token=<token>``, for EventSource clients, which cannot
set headers. The dashboard's files (``GET`` outside ``/api``) and the API
reference's page and files (``/api/docs``) are open: they hold no data, and
ask for the token and send it; the OpenAPI document itself needs the token.
Without tokens the API is open.

Tokens are compared as SHA-256 digests with ``hmac.compare_digest``, against
every configured token each time: how long a check takes says nothing about
how much of a token was right, nor which token matched.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from orchest_schemas.errors import ErrorDetail

from .api_docs import DOCS_PATH
from .dashboard import is_api_path
from .errors import error_response

OPEN_PATHS = frozenset({"/api/ping"})
"""Answered without a token (to ``GET``)."""
QUERY_TOKEN_PATHS = frozenset({"/api/events"})
"""Where ``?access_token=`` stands in for the header (EventSource clients)."""
QUERY_TOKEN = "access_token"
REALM = "orchest"


def _digest(token: bytes) -> bytes:
    return hashlib.sha256(token).digest()


class TokenChecker:
    """Whether a presented token is one of the configured ones, in constant time."""

    def __init__(self, tokens: Iterable[str]) -> None:
        self._digests = tuple(_digest(token.encode()) for token in tokens)

    @property
    def enabled(self) -> bool:
        return bool(self._digests)

    def valid(self, presented: bytes) -> bool:
        digest = _digest(presented)
        found = False
        for known in self._digests:  # no early exit: every token is compared
            found |= hmac.compare_digest(known, digest)
        return found


def presented_token(scope: Scope) -> bytes | None:
    """The bearer token of a request: its ``Authorization`` header, else (on
    the paths that take it) its ``access_token`` query parameter."""
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.strip().partition(b" ")
            if scheme.lower() != b"bearer":
                return b""
            return token.strip()
    if scope["path"] in QUERY_TOKEN_PATHS:
        query: bytes = scope.get("query_string", b"")
        for key, text in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if key == QUERY_TOKEN:
                return text.encode()
    return None


def _open(scope: Scope) -> bool:
    """Open without a token: ``GET /api/ping``, and reading the dashboard's
    files (every path outside ``/api``: the app holds no data and asks for
    the token itself) and the API reference's page and files (``/api/docs``:
    the same; the document it shows needs the token)."""
    path: str = scope["path"]
    if scope["method"] == "GET" and path in OPEN_PATHS:
        return True
    reading = scope["method"] in ("GET", "HEAD")
    return reading and (not is_api_path(path) or _is_docs_path(path))


def _is_docs_path(path: str) -> bool:
    return path == DOCS_PATH or path.startswith(DOCS_PATH + "/")


class BearerAuth:
    """ASGI middleware: refuses requests without a valid token (when tokens are set)."""

    def __init__(self, app: ASGIApp, checker: TokenChecker) -> None:
        self.app = app
        self.checker = checker

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.checker.enabled or _open(scope):
            await self.app(scope, receive, send)
            return
        token = presented_token(scope)
        if token and self.checker.valid(token):
            await self.app(scope, receive, send)
            return
        if token is None:
            challenge = f'Bearer realm="{REALM}"'
            detail = ErrorDetail(
                loc=["header", "Authorization"],
                msg="send Authorization: Bearer <token>",
                type="token_missing",
            )
        else:
            challenge = f'Bearer realm="{REALM}", error="invalid_token"'
            detail = ErrorDetail(
                loc=["header", "Authorization"],
                msg="the bearer token is not valid",
                type="token_invalid",
            )
        response = error_response(
            401, "authentication required", [detail], headers={"WWW-Authenticate": challenge}
        )
        await response(scope, receive, send)
