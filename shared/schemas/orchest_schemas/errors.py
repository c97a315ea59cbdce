"""The typed error reply of a command, and the HTTP error body built from it.

A command handler answers either with its result or with an ``ErrorReply``
(``code`` + ``message`` + every problem found). The reply travels with the
NATS micro error headers (``Nats-Service-Error-Code`` carries ``status``), so
generic micro clients see an error too; the gateway maps ``status`` straight
to the HTTP status and the rest to the one error body of the HTTP API.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from ._base import Message


class ErrorCode(StrEnum):
    """Machine-readable error kinds, each with one HTTP status."""

    INVALID = "invalid"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    PRECONDITION_FAILED = "precondition_failed"
    """A write conditional on a version (``If-Match``) found another version."""
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNAUTHORIZED = "unauthorized"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"

    @property
    def http_status(self) -> int:
        return _HTTP_STATUS[self]


_HTTP_STATUS = {
    ErrorCode.INVALID: 422,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.PRECONDITION_FAILED: 412,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.INTERNAL: 500,
}


class ErrorDetail(BaseModel):
    """One problem: where it is (``loc``, a path into the input) and what it is."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    loc: list[str | int] = Field(default_factory=list)
    msg: str
    type: str = "value_error"


class ErrorReply(Message):
    """What a command handler answers instead of a result."""

    code: ErrorCode
    message: str
    errors: list[ErrorDetail] = Field(default_factory=list)

    @property
    def http_status(self) -> int:
        return self.code.http_status


class ErrorBody(BaseModel):
    """The one body of every 4xx and 5xx response of the HTTP API."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    message: str
    errors: list[ErrorDetail] = Field(default_factory=list)
