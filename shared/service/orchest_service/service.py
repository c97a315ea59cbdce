"""The lifecycle of a service process.

``run_service`` opens NATS (and Postgres when the service owns tables) in one
``AsyncExitStack``, makes sure the streams exist, applies the service's
migrations under an advisory lock, registers it as a NATS micro service
(``PING``, ``INFO``, ``STATS`` on ``$SRV.*``), then runs its ``serve``
coroutine until SIGTERM or SIGINT. On a signal it stops taking commands
(the micro endpoints are drained), gives ``serve`` up to
``drain_timeout_seconds`` to finish in-flight work, then closes the pool and
drains the NATS connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version as dist_version
from typing import Any

import asyncpg
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.micro.service import Service, ServiceConfig

from orchest_schemas.bus import (
    METADATA_BUS_PREFIX,
    METADATA_HOST,
    METADATA_PID,
    METADATA_STARTED,
    BusNames,
    ServiceName,
)

from . import broker
from .database import apply_migrations, create_pool
from .loop import METADATA_EVENT_LOOP, running_loop_name
from .settings import ServiceSettings

logger = logging.getLogger(__name__)


@dataclass
class ServiceContext:
    """What ``serve`` gets: the open connections and the stop signal."""

    settings: ServiceSettings
    bus: BusNames
    nc: Client
    js: JetStreamContext
    micro: Service
    pool: asyncpg.Pool | None
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def db(self) -> asyncpg.Pool:
        if self.pool is None:
            raise RuntimeError("this service was defined without a database")
        return self.pool


Serve = Callable[[ServiceContext], Coroutine[Any, Any, None]]
Register = Callable[[ServiceContext], Awaitable[None]]


async def serve_until_stopped(ctx: ServiceContext) -> None:
    """A ``serve`` for a service whose whole work is done by its endpoints."""
    await ctx.stopping.wait()


@dataclass(frozen=True)
class ServiceDefinition:
    """What makes one service: its name, what it owns and how it serves."""

    name: ServiceName
    distribution: str
    description: str
    serve: Serve = serve_until_stopped
    register: Register | None = None
    """Adds the command endpoints; runs before the service answers discovery,
    so an instance that is seen also answers its commands."""
    metadata: Callable[[], Awaitable[Mapping[str, str]]] | None = None
    """More of the instance's micro metadata (``/api/health`` shows it), made
    at start-up before the service answers discovery."""
    uses_database: bool = False
    db_schema: str | None = None
    migrations_package: str | None = None

    @property
    def version(self) -> str:
        return dist_version(self.distribution)


async def run_service(
    definition: ServiceDefinition,
    settings: ServiceSettings,
    *,
    stop: asyncio.Event | None = None,
    handle_signals: bool = True,
    started: asyncio.Event | None = None,
) -> None:
    """Run the service until ``stop`` is set or SIGTERM/SIGINT arrives."""
    stopping = stop if stop is not None else asyncio.Event()
    loop = asyncio.get_running_loop()
    if handle_signals:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
    try:
        async with AsyncExitStack() as stack:
            ctx = await _open(definition, settings, stack, stopping)
            if started is not None:
                started.set()
            logger.info(
                "%s %s serving (instance %s, on %s)",
                definition.name,
                definition.version,
                ctx.micro.id,
                running_loop_name(),
            )
            await _serve(definition, ctx, stopping)
    finally:
        if handle_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
    logger.info("%s stopped", definition.name)


async def _open(
    definition: ServiceDefinition,
    settings: ServiceSettings,
    stack: AsyncExitStack,
    stopping: asyncio.Event,
) -> ServiceContext:
    nc = await broker.connect(
        settings.nats_servers,
        name=f"{definition.name}@{settings.instance_host}:{os.getpid()}",
        wait_seconds=settings.connect_wait_seconds,
    )
    stack.push_async_callback(_close_nats, nc)
    js = nc.jetstream()
    await broker.ensure_streams(js, settings.bus.streams)

    pool: asyncpg.Pool | None = None
    if definition.uses_database:
        pool = await create_pool(
            settings.database_url,
            min_size=settings.db_pool_min_size,
            max_size=settings.db_pool_max_size,
            wait_seconds=settings.connect_wait_seconds,
            schema=definition.db_schema,
        )
        stack.push_async_callback(pool.close)
        if definition.migrations_package is not None:
            assert definition.db_schema is not None, "migrations need a db_schema"
            await apply_migrations(pool, definition.db_schema, definition.migrations_package)

    extra = {} if definition.metadata is None else dict(await definition.metadata())
    micro = Service(
        nc,
        ServiceConfig(
            name=definition.name.value,
            version=definition.version,
            description=definition.description,
            metadata={
                METADATA_BUS_PREFIX: settings.bus_prefix,
                METADATA_HOST: settings.instance_host,
                METADATA_PID: str(os.getpid()),
                METADATA_STARTED: datetime.now(UTC).isoformat(),
                METADATA_EVENT_LOOP: running_loop_name(),
                **extra,
            },
        ),
    )
    stack.push_async_callback(micro.stop)
    ctx = ServiceContext(
        settings=settings,
        bus=settings.bus,
        nc=nc,
        js=js,
        micro=micro,
        pool=pool,
        stopping=stopping,
    )
    if definition.register is not None:
        await definition.register(ctx)
    await micro.start()  # answers $SRV PING/INFO/STATS from here on
    await nc.flush()
    return ctx


async def _serve(
    definition: ServiceDefinition, ctx: ServiceContext, stopping: asyncio.Event
) -> None:
    serve_task = asyncio.create_task(definition.serve(ctx), name=f"{definition.name}-serve")
    stop_task = asyncio.create_task(stopping.wait(), name=f"{definition.name}-stop")
    try:
        await asyncio.wait({serve_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        serve_task.cancel()
        raise
    finally:
        stop_task.cancel()
    if not stopping.is_set():
        # serve returned (or raised) on its own: that ends the service.
        stopping.set()
        await micro_stop(ctx)
        serve_task.result()
        return
    logger.info("%s draining", definition.name)
    await micro_stop(ctx)
    try:
        await asyncio.wait_for(asyncio.shield(serve_task), ctx.settings.drain_timeout_seconds)
    except TimeoutError:
        logger.warning(
            "%s: in-flight work not done after %.0fs, cancelling",
            definition.name,
            ctx.settings.drain_timeout_seconds,
        )
        serve_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serve_task


async def micro_stop(ctx: ServiceContext) -> None:
    """Stop taking commands: drain the endpoints (in-flight handlers finish)."""
    await ctx.micro.stop()


async def _close_nats(nc: Client) -> None:
    if nc.is_closed:
        return
    if nc.is_connecting or nc.is_reconnecting:
        # NATS is away (killed, restarting): nothing to drain to (drain()
        # raises), and closing flushes to the lost socket (which raises too);
        # the stop goes on without it: asyncio's transport raises OSError at
        # the flush's drain, uvloop's RuntimeError (handler closed) at its write.
        logger.warning("NATS unreachable at stop: closing without draining")
        with contextlib.suppress(OSError, RuntimeError):
            await nc.close()
        return
    try:
        await asyncio.wait_for(nc.drain(), timeout=5.0)
    except (TimeoutError, OSError, NatsError) as exc:
        logger.warning("NATS drain did not finish (%s); closing", exc)
        with contextlib.suppress(OSError, RuntimeError):
            await nc.close()
