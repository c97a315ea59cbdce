"""Serving the app with uvicorn inside the service lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import uvicorn

from orchest_runtime.service import ServiceContext

from .app import create_app
from .deps import GatewayDeps
from .settings import GatewaySettings


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the service lifecycle owns
    SIGTERM and tells uvicorn to exit through ``should_exit``."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_http(ctx: ServiceContext, settings: GatewaySettings, version: str) -> None:
    app = create_app(
        GatewayDeps(settings=settings, nc=ctx.nc, js=ctx.js, pool=ctx.db, version=version)
    )
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        lifespan="off",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=max(1, int(settings.drain_timeout_seconds)),
    )
    server = _Server(config)

    async def exit_on_stop() -> None:
        await ctx.stopping.wait()
        server.should_exit = True

    stopper = asyncio.create_task(exit_on_stop())
    try:
        await server.serve()
    finally:
        stopper.cancel()
    if not server.started:
        raise RuntimeError(f"gateway could not listen on {settings.host}:{settings.port}")
