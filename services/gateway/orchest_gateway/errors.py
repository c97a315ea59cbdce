"""The one error body of the HTTP API, and the handlers that produce it.

Every 4xx and 5xx answers ``{"message": ..., "errors": [...]}``: routing
errors (404, 405), refused commands (their ``ErrorReply`` mapped to its
status), unreachable owners (503), and anything unexpected (500, logged,
with no internals in the body).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from orchest_schemas.errors import ErrorBody, ErrorDetail
from orchest_service.errors import CommandError, DependencyUnavailable

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """An HTTP error raised by a handler."""

    def __init__(self, status: int, message: str, errors: Sequence[ErrorDetail] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = list(errors)


def error_response(
    status: int,
    message: str,
    errors: Sequence[ErrorDetail] = (),
    headers: Mapping[str, str] | None = None,
) -> Response:
    body = ErrorBody(message=message, errors=list(errors))
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message, exc.errors)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, str(exc.detail), headers=exc.headers)


async def _command_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CommandError)
    return error_response(exc.code.http_status, exc.message, exc.errors)


async def _unavailable(request: Request, exc: Exception) -> Response:
    logger.warning("%s %s: %s", request.method, request.url.path, exc)
    return error_response(503, str(exc))


async def _unexpected(request: Request, exc: Exception) -> Response:
    logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal server error")


EXCEPTION_HANDLERS = {
    ApiError: _api_error,
    HTTPException: _http_error,
    CommandError: _command_error,
    DependencyUnavailable: _unavailable,
    Exception: _unexpected,
}
