"""Errors of the runtime layer; each package's own errors derive from ``OrchestError``."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
from nats.errors import TimeoutError as NatsTimeoutError

from orchest_schemas.errors import ErrorCode, ErrorDetail, ErrorReply


class OrchestError(Exception):
    """Root of the errors the services raise on purpose."""


class CommandError(OrchestError):
    """A command refused by its owner: travels back as an ``ErrorReply``."""

    def __init__(self, code: ErrorCode, message: str, errors: Sequence[ErrorDetail] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.errors = list(errors)

    def to_reply(self) -> ErrorReply:
        return ErrorReply(code=self.code, message=self.message, errors=self.errors)

    @classmethod
    def from_reply(cls, reply: ErrorReply) -> CommandError:
        return cls(reply.code, reply.message, reply.errors)


class DependencyUnavailable(OrchestError):
    """NATS, Postgres or an owning service did not answer in time."""


class MigrationError(OrchestError):
    """A migration file is malformed or failed to apply."""


TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    DependencyUnavailable,
    OSError,
    TimeoutError,
    NatsTimeoutError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.PostgresConnectionError,
)
"""Errors that mean "a dependency is down or slow": worth trying again later."""
