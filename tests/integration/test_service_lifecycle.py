"""The service lifecycle against real NATS and Postgres: connect, streams,
migrations, micro registration, drain on stop, and start-up failures."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client
from pydantic import BaseModel

from orchest_cli.embedded import EmbeddedNats
from orchest_gateway.discovery import discover
from orchest_scheduler.service import build_definition as build_scheduler
from orchest_schemas.bus import BusNames, ServiceName
from orchest_service.commands import add_command, request_command
from orchest_service.database import load_migrations
from orchest_service.entry import EXIT_DEPENDENCY_UNAVAILABLE, run_main
from orchest_service.errors import DependencyUnavailable
from orchest_service.service import ServiceContext, ServiceDefinition
from orchest_session_manager.service import DEFINITION as SESSION_MANAGER
from orchest_step_runner.service import build_definition as build_runner
from orchest_step_runner.settings import RunnerSettings
from support import ENV_WITHOUT_ORCHEST, eventually

SCHEDULER = build_scheduler()  # used by one test at a time
STEP_RUNNER = build_runner(RunnerSettings())


async def instances(nc: Client, bus: BusNames, name: str) -> list[Any]:
    found = await discover(nc, bus.prefix, [name], timeout=0.5, quiet=0.05)
    return found.get(name, [])


@pytest.mark.parametrize("definition", [SCHEDULER, SESSION_MANAGER, STEP_RUNNER])
async def test_service_registers_on_the_bus_and_leaves_on_stop(
    definition: ServiceDefinition,
    nc: Client,
    bus: BusNames,
    service_settings: Callable[..., Any],
    service_runner: Any,
) -> None:
    async with service_runner(definition, service_settings()):
        [instance] = await instances(nc, bus, definition.name)
        assert instance.version == definition.version
        assert instance.pid == os.getpid()
        js = nc.jetstream()
        for spec in bus.streams:
            info = await js.stream_info(spec.name)
            assert set(info.config.subjects or []) == set(spec.subjects)

    assert await instances(nc, bus, definition.name) == []


async def test_instances_of_another_bus_prefix_are_not_seen(
    nc: Client, bus: BusNames, service_settings: Callable[..., Any], service_runner: Any
) -> None:
    other = BusNames(bus.prefix + "x")
    async with service_runner(STEP_RUNNER, service_settings(bus_prefix=other.prefix)):
        assert await instances(nc, bus, STEP_RUNNER.name) == []
        assert len(await instances(nc, other, STEP_RUNNER.name)) == 1
    js = nc.jetstream()
    for spec in other.streams:
        await js.delete_stream(spec.name)


async def test_scheduler_migrates_what_it_owns(
    database_url: str, service_settings: Callable[..., Any], service_runner: Any
) -> None:
    import asyncpg

    async with service_runner(SCHEDULER, service_settings()):
        conn = await asyncpg.connect(database_url)
        try:
            versions = await conn.fetch(
                "SELECT version FROM scheduler.schema_migrations ORDER BY version"
            )
        finally:
            await conn.close()
    expected = [m.version for m in load_migrations("orchest_scheduler.migrations")]
    assert [r["version"] for r in versions] == expected


class Echo(BaseModel):
    text: str


async def test_stop_lets_in_flight_commands_finish_then_refuses_new_ones(
    nc: Client, bus: BusNames, service_settings: Callable[..., Any], service_runner: Any
) -> None:
    entered = asyncio.Event()
    release = asyncio.Event()
    subject = bus.command("test.echo")

    async def slow_echo(command: Echo) -> Echo:
        entered.set()
        await release.wait()
        return Echo(text=command.text.upper())

    async def register(ctx: ServiceContext) -> None:
        await add_command(
            ctx.micro,
            name="echo",
            subject=subject,
            queue_group=bus.queue_group(ServiceName.SCHEDULER),
            request_model=Echo,
            handler=slow_echo,
        )

    definition = ServiceDefinition(
        name=ServiceName.SCHEDULER,
        distribution="orchest-scheduler",
        description="t",
        register=register,
    )
    async with service_runner(definition, service_settings()) as stop:
        reply = asyncio.create_task(request_command(nc, subject, Echo(text="hi"), Echo))
        await asyncio.wait_for(entered.wait(), 5)
        stop.set()
        release.set()
        assert (await asyncio.wait_for(reply, 5)).text == "HI"

    with pytest.raises(DependencyUnavailable):
        await request_command(nc, subject, Echo(text="late"), Echo, timeout=1.0)


def test_unreachable_nats_exits_with_its_own_code(database_url: str) -> None:
    from orchest_service.settings import ServiceSettings

    settings = ServiceSettings(
        nats_url="nats://127.0.0.1:1", database_url=database_url, connect_wait_seconds=0.5
    )
    assert run_main(STEP_RUNNER, settings) == EXIT_DEPENDENCY_UNAVAILABLE


def test_unreachable_postgres_exits_with_its_own_code(nats_server: Any, bus: BusNames) -> None:
    from orchest_service.settings import ServiceSettings

    settings = ServiceSettings(
        nats_url=nats_server.url,
        database_url="postgresql://postgres@127.0.0.1:1/none",
        bus_prefix=bus.prefix,
        connect_wait_seconds=0.5,
    )
    assert run_main(SCHEDULER, settings) == EXIT_DEPENDENCY_UNAVAILABLE


async def test_sigterm_drains_and_exits_zero(
    nats_server: Any, database_url: str, bus: BusNames, nc: Client
) -> None:
    env = dict(
        ENV_WITHOUT_ORCHEST,
        ORCHEST_NATS_URL=nats_server.url,
        ORCHEST_DATABASE_URL=database_url,
        ORCHEST_BUS_PREFIX=bus.prefix,
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "orchest_scheduler", env=env, stderr=asyncio.subprocess.PIPE
    )
    assert proc.stderr is not None
    try:
        # The service logs "serving" once it is registered.
        while b"serving" not in (line := await asyncio.wait_for(proc.stderr.readline(), 20)):
            assert line, "the scheduler exited before serving"
        assert len(await instances(nc, bus, "scheduler")) == 1
        proc.send_signal(signal.SIGTERM)
        rest = await asyncio.wait_for(proc.stderr.read(), 20)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert b"draining" in rest and b"stopped" in rest
    assert await instances(nc, bus, "scheduler") == []


async def test_a_stop_while_nats_is_away_ends_cleanly(
    workdir: Path, service_settings: Callable[..., Any], service_runner: Any
) -> None:
    """``orchest down`` with its NATS gone (killed, or an external one down):
    the service, reconnecting, stops without an error (it raised
    ``ConnectionReconnectingError``, draining a connection that is
    reconnecting, and exited with a traceback and code 1)."""
    connections: list[Client] = []

    async def register(ctx: ServiceContext) -> None:
        connections.append(ctx.nc)

    definition = ServiceDefinition(
        name=ServiceName.SCHEDULER,
        distribution="orchest-scheduler",
        description="t",
        register=register,
    )
    own = EmbeddedNats(workdir / "nats", workdir / "nats.log")
    await own.start()
    try:
        async with service_runner(definition, service_settings(nats_url=own.url)):
            await own.stop()

            async def reconnecting() -> bool | None:
                return True if connections[0].is_reconnecting else None

            await eventually(reconnecting, timeout=20, what="the service reconnecting")
    finally:
        await own.stop()
