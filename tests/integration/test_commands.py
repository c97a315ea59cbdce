"""The command reply policy over real NATS micro endpoints."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client
from nats.micro import add_service
from nats.micro.service import Service, ServiceConfig
from pydantic import BaseModel, Field

from orchest_schemas.bus import HEADER_SERVICE_ERROR_CODE, BusNames, ServiceName
from orchest_schemas.errors import ErrorCode, ErrorDetail, ErrorReply
from orchest_service.commands import add_command, request_command
from orchest_service.errors import CommandError, DependencyUnavailable


class Divide(BaseModel):
    numerator: int
    denominator: int = Field(ge=-1000, le=1000)


class Quotient(BaseModel):
    value: float


async def divide(command: Divide) -> Quotient:
    if command.numerator < 0:
        raise CommandError(
            ErrorCode.CONFLICT,
            "negative numerators are refused",
            [ErrorDetail(loc=["numerator"], msg="must be >= 0")],
        )
    if command.numerator == 999:
        raise ConnectionRefusedError("the database is restarting")  # a dependency is down
    return Quotient(value=command.numerator / command.denominator)  # 0 raises


@pytest.fixture
async def subject(nc: Client, bus: BusNames) -> AsyncIterator[str]:
    service: Service = await add_service(nc, ServiceConfig(name="divider", version="1.0.0"))
    subject = bus.command("test.divide")
    await add_command(
        service,
        name="divide",
        subject=subject,
        queue_group=bus.queue_group(ServiceName.SCHEDULER),
        request_model=Divide,
        handler=divide,
    )
    yield subject
    await service.stop()


async def test_result(nc: Client, subject: str) -> None:
    result = await request_command(nc, subject, Divide(numerator=6, denominator=3), Quotient)
    assert result.value == 2


async def test_refusal_travels_as_typed_error(nc: Client, subject: str) -> None:
    with pytest.raises(CommandError) as caught:
        await request_command(nc, subject, Divide(numerator=-1, denominator=3), Quotient)
    assert caught.value.code is ErrorCode.CONFLICT
    assert caught.value.errors == [ErrorDetail(loc=["numerator"], msg="must be >= 0")]


async def test_invalid_request_lists_every_problem(nc: Client, subject: str) -> None:
    msg = await nc.request(subject, b'{"denominator": 5000}', timeout=5)
    assert msg.headers is not None and msg.headers[HEADER_SERVICE_ERROR_CODE] == "422"
    reply = ErrorReply.model_validate_json(msg.data)
    assert reply.code is ErrorCode.INVALID
    assert sorted(tuple(e.loc) for e in reply.errors) == [("denominator",), ("numerator",)]


async def test_unexpected_failure_is_internal_and_leaks_nothing(nc: Client, subject: str) -> None:
    with pytest.raises(CommandError) as caught:
        await request_command(nc, subject, Divide(numerator=1, denominator=0), Quotient)
    assert caught.value.code is ErrorCode.INTERNAL
    assert "division" not in caught.value.message.lower()


async def test_no_responder_is_unavailable(nc: Client, bus: BusNames) -> None:
    with pytest.raises(DependencyUnavailable):
        await request_command(
            nc, bus.command("nobody.home"), Divide(numerator=1, denominator=1), Quotient
        )


async def test_a_dependency_down_is_unavailable_for_the_caller_to_retry(
    nc: Client, subject: str
) -> None:
    msg = await nc.request(subject, Divide(numerator=999, denominator=1).model_dump_json().encode())
    assert msg.headers is not None and msg.headers[HEADER_SERVICE_ERROR_CODE] == "503"
    with pytest.raises(DependencyUnavailable):
        await request_command(nc, subject, Divide(numerator=999, denominator=1), Quotient)
