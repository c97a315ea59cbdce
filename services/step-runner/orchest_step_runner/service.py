"""The step runner as a service: stateless, no database."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

from orchest_schemas.bus import ServiceName
from orchest_service.service import ServiceContext, ServiceDefinition

from . import scratch
from .executor import ProcessExecutor, StepExecutor
from .executor.isolation import Isolation, open_isolation
from .executor.kernel_pool import PoolOptions
from .executor.reaping import RunnerIdentity, RunnerProcess
from .runner import StepRunner, runner_id
from .settings import RunnerSettings

if TYPE_CHECKING:
    from .executor.docker import DockerOptions

logger = logging.getLogger(__name__)

METADATA_ISOLATION = "isolation"


def docker_options(settings: RunnerSettings) -> DockerOptions:
    # The docker machinery (aiodocker, the engine client) is imported only by
    # a runner whose executor is docker: not on the process executor's start.
    from orchest_service.docker import DockerTimeouts

    from .executor.docker import DockerOptions

    return DockerOptions(
        default_image=settings.default_step_image,
        environment_images=dict(settings.environment_images),
        user=settings.docker_user,
        memory_bytes=int(settings.docker_step_memory),
        cpus=settings.docker_step_cpus,
        pids_limit=settings.docker_step_pids_limit,
        data_dir=settings.docker_data_dir or settings.data_dir,
        kill_grace_seconds=settings.kill_grace_seconds,
        kernel_start_seconds=settings.kernel_start_seconds,
        copy_files=settings.docker_copy_files,
        timeouts=DockerTimeouts(
            connect=settings.docker_connect_timeout_seconds,
            request=settings.docker_api_timeout_seconds,
        ),
    )


def pool_options(settings: RunnerSettings) -> PoolOptions:
    return PoolOptions(
        size=settings.kernel_pool_size,
        idle_seconds=settings.kernel_pool_idle_seconds,
        memory_bytes=int(settings.kernel_pool_memory),
    )


class IsolationChoice:
    """The process executor's isolation, chosen once at start-up (its view
    holder kept until ``close``) and said once in the log; the runner's
    health metadata shows it."""

    def __init__(self, settings: RunnerSettings) -> None:
        self._settings = settings
        self._chosen: Isolation | None = None
        self._lock = asyncio.Lock()
        self._stack = AsyncExitStack()

    async def get(self) -> Isolation:
        async with self._lock:
            if self._chosen is None:
                settings = self._settings
                chosen = await self._stack.enter_async_context(
                    open_isolation(settings.isolation, settings.data_dir)
                )
                if chosen.reason is None:
                    logger.info("steps run isolated: %s", chosen.describe())
                else:
                    logger.warning(
                        "steps run unisolated (no /project-dir, /data, /pipeline.json "
                        "of their own; the SDK's data stays per run): %s",
                        chosen.reason,
                    )
                self._chosen = chosen
            return self._chosen

    async def close(self) -> None:
        await self._stack.aclose()

    async def metadata(self) -> Mapping[str, str]:
        if self._settings.executor != "process":
            return {}
        return {METADATA_ISOLATION: (await self.get()).describe()}


@asynccontextmanager
async def open_executor(
    settings: RunnerSettings, ctx: ServiceContext, isolation: IsolationChoice | None = None
) -> AsyncIterator[StepExecutor]:
    """The executor ``settings.executor`` names, for as long as the runner serves.
    Once it is open (what dead runners left running is gone), their folders
    are removed; when it closes, the runner's own (``scratch.py``)."""
    await asyncio.to_thread(scratch.hold)
    try:
        async with _chosen_executor(settings, ctx, isolation) as executor:
            removed = await asyncio.to_thread(scratch.remove_dead_runners_directories)
            if removed:
                logger.warning("removed the folders of %d dead runner(s)", len(removed))
            yield executor
    finally:
        await asyncio.to_thread(scratch.release)


@asynccontextmanager
async def _chosen_executor(
    settings: RunnerSettings, ctx: ServiceContext, isolation: IsolationChoice | None
) -> AsyncIterator[StepExecutor]:
    if settings.executor == "docker":
        from .executor.docker import DockerExecutor

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
        choice = isolation or IsolationChoice(settings)
        try:
            async with ProcessExecutor.open(
                RunnerProcess.current(),
                kill_grace_seconds=settings.kill_grace_seconds,
                kernel_start_seconds=settings.kernel_start_seconds,
                isolation=await choice.get(),
                pool=pool_options(settings),
            ) as executor:
                yield executor
        finally:
            if isolation is None:
                await choice.close()


def watch_children_by_pidfd() -> bool:
    """Before the loop starts: learn of the steps' exits through pid file
    descriptors on the loop (Linux 5.3+; Python 3.12 does so by default)
    rather than through a thread per child process, which 3.11 starts for
    every step (``asyncio.ThreadedChildWatcher``). Returns whether it did."""
    if sys.version_info >= (3, 12) or not hasattr(os, "pidfd_open"):
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:  # an older kernel, or a sandbox that refuses the call
        return False
    asyncio.get_event_loop_policy().set_child_watcher(asyncio.PidfdChildWatcher())
    return True


def build_definition(
    settings: RunnerSettings, executor: StepExecutor | None = None
) -> ServiceDefinition:
    isolation = IsolationChoice(settings)

    async def serve(ctx: ServiceContext) -> None:
        if executor is not None:
            await StepRunner(ctx, settings, executor).serve()
            return
        try:
            async with open_executor(settings, ctx, isolation) as chosen:
                await StepRunner(ctx, settings, chosen).serve()
        finally:
            await isolation.close()

    return ServiceDefinition(
        name=ServiceName.STEP_RUNNER,
        distribution="orchest-step-runner",
        description="Pulls step work by priority and executes it; reports status and logs.",
        serve=serve,
        metadata=None if executor is not None else isolation.metadata,
    )
