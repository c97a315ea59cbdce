"""Command endpoints (the owner's side) and command requests (the caller's side).

The owner registers a handler per command as a NATS micro endpoint in the
service's queue group. The wrapper owns the reply policy, so handlers never
reply themselves: they return a result model or raise ``CommandError``. A
request that does not parse is refused with every problem listed; an
unexpected exception is logged with its traceback and answered as an
internal error without leaking its text.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.micro.request import Request
from nats.micro.service import EndpointConfig, Service
from pydantic import BaseModel, ValidationError

from orchest_schemas.bus import HEADER_SERVICE_ERROR_CODE
from orchest_schemas.errors import ErrorCode, ErrorDetail, ErrorReply

from .errors import TRANSIENT_ERRORS, CommandError, DependencyUnavailable

logger = logging.getLogger(__name__)

RequestT = TypeVar("RequestT", bound=BaseModel)
ResultT = TypeVar("ResultT", bound=BaseModel)


def validation_details(exc: ValidationError) -> list[ErrorDetail]:
    """Every problem pydantic found, as error details."""
    return [
        ErrorDetail(loc=list(err["loc"]), msg=err["msg"], type=err["type"])
        for err in exc.errors(include_url=False)
    ]


async def add_command(
    service: Service,
    *,
    name: str,
    subject: str,
    queue_group: str,
    request_model: type[RequestT],
    handler: Callable[[RequestT], Awaitable[BaseModel]],
) -> None:
    """Register ``handler`` for ``subject`` with the reply policy above."""

    async def endpoint(request: Request) -> None:
        try:
            command = request_model.model_validate_json(request.data)
        except ValidationError as exc:
            await _reply_error(
                request,
                ErrorReply(
                    code=ErrorCode.INVALID,
                    message=f"invalid {request_model.__name__} command",
                    errors=validation_details(exc),
                ),
            )
            return
        try:
            result = await handler(command)
        except CommandError as exc:
            await _reply_error(request, exc.to_reply())
            return
        except TRANSIENT_ERRORS as exc:
            logger.warning("command %s: a dependency is unavailable (%s)", name, exc)
            await _reply_error(
                request,
                ErrorReply(code=ErrorCode.UNAVAILABLE, message=f"{name}: try again later"),
            )
            return
        except Exception:
            logger.exception("command %s failed", name)
            await _reply_error(
                request, ErrorReply(code=ErrorCode.INTERNAL, message=f"{name} failed")
            )
            return
        await request.respond(result.model_dump_json().encode())

    await service.add_endpoint(
        EndpointConfig(name=name, subject=subject, queue_group=queue_group, handler=endpoint)
    )


CommandEndpoint = tuple[str, str, type[BaseModel], Callable[[Any], Awaitable[BaseModel]]]
"""A command a service answers: (endpoint name, subject, request model, handler)."""


async def add_commands(
    service: Service, queue_group: str, endpoints: Sequence[CommandEndpoint]
) -> None:
    """Register each of a service's commands in its queue group (``add_command``)."""
    for name, subject, model, handler in endpoints:
        await add_command(
            service,
            name=name,
            subject=subject,
            queue_group=queue_group,
            request_model=model,
            handler=handler,
        )


async def _reply_error(request: Request, reply: ErrorReply) -> None:
    await request.respond_error(
        code=str(reply.http_status), description=reply.message, data=reply.to_bytes()
    )


async def request_command(
    nc: Client,
    subject: str,
    command: BaseModel,
    result_model: type[ResultT],
    *,
    timeout: float = 5.0,
) -> ResultT:
    """Send a command and wait for its result; ``CommandError`` if refused."""
    data = await request_command_json(nc, subject, command, timeout=timeout)
    return result_model.model_validate_json(data)


async def request_command_json(
    nc: Client, subject: str, command: BaseModel, *, timeout: float = 5.0
) -> bytes:
    """Like ``request_command``, returning the result's JSON as it came (for a
    caller that only passes it on)."""
    return await request_json(nc, subject, command.model_dump_json().encode(), timeout=timeout)


async def request_json(nc: Client, subject: str, payload: bytes, *, timeout: float = 5.0) -> bytes:
    """Like ``request_command_json``, the command given as its JSON (a caller
    that keeps a command's JSON sends it again without encoding it again)."""
    try:
        msg = await nc.request(subject, payload, timeout=timeout)
    except NoRespondersError as exc:
        raise DependencyUnavailable(f"no service answers {subject}") from exc
    except NatsTimeoutError as exc:
        raise DependencyUnavailable(f"no answer on {subject} within {timeout}s") from exc
    if msg.headers and HEADER_SERVICE_ERROR_CODE in msg.headers:
        try:
            reply = ErrorReply.model_validate_json(msg.data)
        except ValidationError:
            reply = ErrorReply(
                code=ErrorCode.INTERNAL,
                message=msg.headers.get("Nats-Service-Error", "service error"),
            )
        if reply.code is ErrorCode.UNAVAILABLE:
            raise DependencyUnavailable(reply.message)
        raise CommandError.from_reply(reply)
    data: bytes = msg.data
    return data
