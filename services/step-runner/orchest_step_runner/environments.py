"""Which build of its environment a step runs in: asked of the builds' owner
(the session manager) when the attempt starts (``docs/environments.md#use``)."""

from __future__ import annotations

import logging

from nats.aio.client import Client
from nats.errors import NoRespondersError

from orchest_schemas.bus import BusNames
from orchest_schemas.commands import StepWork
from orchest_schemas.environments import Resolution, ResolveEnvironment
from orchest_service.commands import request_command
from orchest_service.errors import DependencyUnavailable

logger = logging.getLogger(__name__)


class EnvironmentUnusable(Exception):
    """The step's environment has builds, none of them usable: the attempt fails with this."""


async def with_environment(nc: Client, bus: BusNames, work: StepWork, timeout: float) -> StepWork:
    """``work`` with its environment's build filled in (``environment_venv``
    or ``environment_image``); unchanged when the step names no environment
    or one the stack never built. ``EnvironmentUnusable`` when none of its
    builds succeeded."""
    environment = work.step.environment
    if not environment:
        return work
    command = ResolveEnvironment(
        project_uuid=work.project_uuid, environment_uuid=environment, job_uuid=work.job_uuid
    )
    try:
        found = await request_command(
            nc, bus.environment_command("resolve"), command, Resolution, timeout=timeout
        )
    except DependencyUnavailable as exc:
        if isinstance(exc.__cause__, NoRespondersError):
            # No builder in this deployment: no environment is built here.
            logger.debug("no builder answers: environment %s not resolved", environment)
            return work
        raise
    if not found.managed:
        return work
    if found.build is None:
        raise EnvironmentUnusable(found.reason or f"environment {environment} has no build")
    return work.model_copy(
        update={"environment_venv": found.build.venv_path, "environment_image": found.build.image}
    )
