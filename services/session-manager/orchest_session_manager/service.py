"""The session manager as a service: what it owns, its commands and its loops."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from orchest_schemas.bus import ServiceName
from orchest_schemas.commands import LaunchSession, RestartSession, StopSession
from orchest_schemas.environments import (
    BuildEnvironment,
    CancelBuild,
    ListBuilds,
    PinEnvironments,
    ResolveEnvironment,
)
from orchest_schemas.session_marks import owner_key
from orchest_service.commands import CommandEndpoint, add_commands
from orchest_service.docker import DockerFailure, DockerTimeouts, Limits
from orchest_service.service import ServiceContext, ServiceDefinition

from .builders.docker import DockerBuilder
from .builds import Builds
from .runtime.base import SessionRuntime
from .runtime.docker import DockerRuntime
from .runtime.docker_containers import DockerImages
from .runtime.process import ProcessRuntime
from .sessions import Sessions
from .settings import SessionManagerSettings

logger = logging.getLogger(__name__)

RuntimeFactory = Callable[[SessionManagerSettings], Awaitable[Mapping[str, SessionRuntime]]]

DOCKER_PROBE_SECONDS = 5.0


async def default_runtimes(settings: SessionManagerSettings) -> dict[str, SessionRuntime]:
    """``process`` always; ``docker`` too when a Docker engine answers now."""
    runtimes: dict[str, SessionRuntime] = {
        "process": ProcessRuntime(
            settings.sessions_dir,
            venvs_dir=settings.venvs_dir,
            launch_timeout=settings.session_launch_timeout_seconds,
        )
    }
    docker = docker_runtime(settings)
    try:
        version = await asyncio.wait_for(docker.version(), DOCKER_PROBE_SECONDS)
    except (DockerFailure, TimeoutError) as exc:
        log = logger.warning if settings.docker_url else logger.info
        log(
            "no docker runtime: the Docker engine at %s does not answer (%s)",
            docker.docker_url,
            exc,
        )
    else:
        logger.info("docker runtime: Docker %s at %s", version, docker.docker_url)
        runtimes["docker"] = docker
    return runtimes


def docker_runtime(settings: SessionManagerSettings) -> DockerRuntime:
    return DockerRuntime(
        settings.sessions_dir,
        owner=owner_key(settings.sessions_dir),
        docker_url=settings.docker_url,
        images=DockerImages(
            enterprise_gateway=settings.docker_gateway_image,
            jupyter_server=settings.docker_jupyter_image,
            kernel=settings.docker_kernel_image,
            environments=settings.environment_images,
        ),
        user=settings.docker_user,
        data_dir=settings.docker_data_dir or settings.data_dir,
        server_limits=Limits(
            int(settings.docker_server_memory),
            settings.docker_server_cpus,
            settings.docker_pids_limit,
        ),
        kernel_limits=Limits(
            int(settings.docker_kernel_memory),
            settings.docker_kernel_cpus,
            settings.docker_pids_limit,
        ),
        launch_timeout=settings.session_launch_timeout_seconds,
        timeouts=DockerTimeouts(
            connect=settings.docker_connect_timeout_seconds,
            request=settings.docker_api_timeout_seconds,
        ),
    )


def build_definition(
    settings: SessionManagerSettings | None = None, runtimes: RuntimeFactory | None = None
) -> ServiceDefinition:
    parts: dict[str, Sessions] = {}
    build_parts: dict[str, Builds] = {}

    async def register(ctx: ServiceContext) -> None:
        own = settings or SessionManagerSettings.model_validate(ctx.settings.model_dump())
        sessions = Sessions(
            ctx.db,
            ctx.bus,
            ctx.nc,
            ctx.js,
            await (runtimes or default_runtimes)(own),
            default_runtime=own.session_runtime,
            owner=own.instance_host,
            launch_timeout=own.session_launch_timeout_seconds,
        )
        parts["sessions"] = sessions
        builds = Builds(
            ctx.db,
            ctx.bus,
            ctx.nc,
            ctx.js,
            environments_dir=own.environments_dir,
            builder=own.environment_builder,
            owner=own.instance_host,
            command_timeout=10.0,
            sessions_dir=own.sessions_dir,
            docker=DockerBuilder(
                own.docker_kernel_image,
                docker_url=own.docker_url,
                timeouts=DockerTimeouts(
                    connect=own.docker_connect_timeout_seconds,
                    request=own.docker_api_timeout_seconds,
                ),
                ca_bundle=own.build_ca_bundle,
            ),
        )
        build_parts["builds"] = builds
        await builds.listen()  # before any build of this host can start
        group = ctx.bus.queue_group(ServiceName.SESSION_MANAGER)
        env = ctx.bus.environment_command
        commands: list[CommandEndpoint] = [
            ("launch-session", ctx.bus.launch_session, LaunchSession, sessions.launch),
            ("stop-session", ctx.bus.stop_session, StopSession, sessions.stop),
            ("restart-session", ctx.bus.restart_session, RestartSession, sessions.restart),
            ("build-env", env("build"), BuildEnvironment, builds.build),
            ("cancel-build", env("cancel"), CancelBuild, builds.cancel),
            ("list-builds", env("builds"), ListBuilds, builds.list),
            ("resolve-env", env("resolve"), ResolveEnvironment, builds.resolve),
            ("pin-envs", env("pin"), PinEnvironments, builds.pin),
        ]
        await add_commands(ctx.micro, group, commands)

    async def serve(ctx: ServiceContext) -> None:
        own = settings or SessionManagerSettings.model_validate(ctx.settings.model_dump())
        sessions, builds = parts["sessions"], build_parts["builds"]
        await builds.reconcile()
        await sessions.reconcile()
        await builds.reconcile_venvs()
        try:
            await sessions.watch(ctx.stopping, own.session_health_seconds)
        finally:
            await asyncio.shield(builds.close())
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
