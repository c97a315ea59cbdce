"""The step runner as a service: stateless, no database."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from orchest_runtime.docker import DockerTimeouts
from orchest_runtime.service import ServiceContext, ServiceDefinition
from orchest_schemas.bus import ServiceName

from .executor import ProcessExecutor, StepExecutor
from .executor.docker import DockerExecutor, DockerOptions
from .executor.reaping import RunnerIdentity, RunnerProcess
from .runner import StepRunner, runner_id
from .settings import RunnerSettings


def docker_options(settings: RunnerSettings) -> DockerOptions:
    return DockerOptions(
        default_image=settings.default_step_image,
        environment_images=dict(settings.environment_images),
        user=settings.docker_user,
        memory_bytes=int(settings.docker_step_memory),
        cpus=settings.docker_step_cpus,
        pids_limit=settings.docker_step_pids_limit,
        data_dir=settings.docker_data_dir,
        kill_grace_seconds=settings.kill_grace_seconds,
        copy_files=settings.docker_copy_files,
        timeouts=DockerTimeouts(
            connect=settings.docker_connect_timeout_seconds,
            request=settings.docker_api_timeout_seconds,
        ),
    )


@asynccontextmanager
async def open_executor(
    settings: RunnerSettings, ctx: ServiceContext
) -> AsyncIterator[StepExecutor]:
    """The executor ``settings.executor`` names, for as long as the runner serves."""
    if settings.executor == "docker":
        identity = RunnerIdentity(
            runner_id(settings, ctx),
            settings.instance_host or socket.gethostname(),
            RunnerProcess.current(),
        )
        async with DockerExecutor.open(
            identity, docker_options(settings), settings.docker_url
        ) as executor:
            yield executor
    else:
        async with ProcessExecutor.open(
            RunnerProcess.current(), kill_grace_seconds=settings.kill_grace_seconds
        ) as executor:
            yield executor


def build_definition(
    settings: RunnerSettings, executor: StepExecutor | None = None
) -> ServiceDefinition:
    async def serve(ctx: ServiceContext) -> None:
        if executor is not None:
            await StepRunner(ctx, settings, executor).serve()
            return
        async with open_executor(settings, ctx) as chosen:
            await StepRunner(ctx, settings, chosen).serve()

    return ServiceDefinition(
        name=ServiceName.STEP_RUNNER,
        distribution="orchest-step-runner",
        description="Pulls step work by priority and executes it; reports status and logs.",
        serve=serve,
    )
