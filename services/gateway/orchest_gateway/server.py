"""Serving the app with uvicorn inside the service lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import uvicorn
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from orchest_service.service import ServiceContext

from .app import create_app
from .deps import GatewayDeps
from .fanout import EventFeed
from .settings import GatewaySettings
from .sse import ABORT_EXTENSION, WRITABLE_EXTENSION


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the service lifecycle owns
    SIGTERM and tells uvicorn to exit through ``should_exit``."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class _Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, giving each request a way to abort its
    connection (scope extension ``orchest.abort``): an event stream whose
    client stopped reading drops it, where closing it would wait for the
    client to read what is buffered; and a way to know whether a send would
    wait (``orchest.writable``: false once the connection's write buffer is
    full, until the client read it), so an event stream puts a deadline only
    on the sends that may wait."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        app = self.app

        def writable() -> bool:
            return not self.flow.write_paused

        async def with_extensions(scope: Scope, receive: Receive, send: Send) -> None:
            extensions = scope.setdefault("extensions", {})
            extensions[ABORT_EXTENSION] = transport.abort
            extensions[WRITABLE_EXTENSION] = writable
            await app(scope, receive, send)

        self.app = with_extensions


async def serve_http(ctx: ServiceContext, settings: GatewaySettings, version: str) -> None:
    feed = EventFeed(
        ctx.js,
        ctx.nc,
        settings.bus.events_stream.name,
        settings.bus.all_events,
        window=settings.read_window,
        queue_limit=settings.sse_queue_events,
        keepalive_seconds=settings.sse_keepalive_seconds,
    )
    app = create_app(
        GatewayDeps(
            settings=settings, nc=ctx.nc, js=ctx.js, pool=ctx.db, version=version, feed=feed
        )
    )
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        lifespan="off",
        http=_Protocol,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=max(1, int(settings.drain_timeout_seconds)),
    )
    server = _Server(config)

    async def exit_on_stop() -> None:
        await ctx.stopping.wait()
        server.should_exit = True

    async with asyncio.TaskGroup() as group:
        # The live events, fanned out to event streams; the gateway fails if
        # the feed fails (and the service is restarted).
        feeding = group.create_task(feed.run())
        stopper = group.create_task(exit_on_stop())
        try:
            await server.serve()
        finally:
            feeding.cancel()
            stopper.cancel()
    if not server.started:
        raise RuntimeError(f"gateway could not listen on {settings.host}:{settings.port}")
