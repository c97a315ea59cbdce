"""The session manager as a service: what it owns, its commands and its loops."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from orchest_runtime.commands import CommandEndpoint, add_commands
from orchest_runtime.service import ServiceContext, ServiceDefinition
from orchest_schemas.bus import ServiceName
from orchest_schemas.commands import LaunchSession, RestartSession, StopSession

from .runtime.base import SessionRuntime
from .runtime.process import ProcessRuntime
from .sessions import Sessions
from .settings import SessionManagerSettings

RuntimeFactory = Callable[[SessionManagerSettings], Mapping[str, SessionRuntime]]


def default_runtimes(settings: SessionManagerSettings) -> dict[str, SessionRuntime]:
    return {
        "process": ProcessRuntime(
            settings.sessions_dir,
            runtimes_dir=settings.runtimes_dir,
            launch_timeout=settings.session_launch_timeout_seconds,
        )
    }


def build_definition(
    settings: SessionManagerSettings | None = None, runtimes: RuntimeFactory | None = None
) -> ServiceDefinition:
    parts: dict[str, Sessions] = {}

    async def register(ctx: ServiceContext) -> None:
        own = settings or SessionManagerSettings.model_validate(ctx.settings.model_dump())
        sessions = Sessions(
            ctx.db,
            ctx.bus,
            ctx.nc,
            ctx.js,
            (runtimes or default_runtimes)(own),
            default_runtime=own.session_runtime,
            owner=own.instance_host,
            launch_timeout=own.session_launch_timeout_seconds,
        )
        parts["sessions"] = sessions
        group = ctx.bus.queue_group(ServiceName.SESSION_MANAGER)
        commands: list[CommandEndpoint] = [
            ("launch-session", ctx.bus.launch_session, LaunchSession, sessions.launch),
            ("stop-session", ctx.bus.stop_session, StopSession, sessions.stop),
            ("restart-session", ctx.bus.restart_session, RestartSession, sessions.restart),
        ]
        await add_commands(ctx.micro, group, commands)

    async def serve(ctx: ServiceContext) -> None:
        own = settings or SessionManagerSettings.model_validate(ctx.settings.model_dump())
        sessions = parts["sessions"]
        await sessions.reconcile()
        try:
            await sessions.watch(ctx.stopping, own.session_health_seconds)
        finally:
            await asyncio.shield(sessions.close(stop_all=own.session_stop_on_exit))

    return ServiceDefinition(
        name=ServiceName.SESSION_MANAGER,
        distribution="orchest-session-manager",
        description="Owns interactive sessions: Jupyter servers, Enterprise Gateways, kernels.",
        uses_database=True,
        db_schema="session_manager",
        migrations_package="orchest_session_manager.migrations",
        register=register,
        serve=serve,
    )


DEFINITION = build_definition()
"""The service as ``python -m orchest_session_manager`` runs it (settings from the environment)."""
