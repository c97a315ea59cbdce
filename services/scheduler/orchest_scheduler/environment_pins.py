"""A job pins its environments' builds at its creation: the builds' owner
(the session manager) records, for the job, the latest successful build of
each environment its pipeline names (``docs/environments.md#use``)."""

from __future__ import annotations

import logging

from nats.aio.client import Client
from nats.errors import NoRespondersError

from orchest_schemas.bus import BusNames
from orchest_schemas.environments import PinEnvironments, Pinned
from orchest_schemas.pipeline import PipelineDefinition
from orchest_service.commands import request_command
from orchest_service.errors import DependencyUnavailable

logger = logging.getLogger(__name__)

PIN_TIMEOUT_SECONDS = 10.0


class EnvironmentPins:
    def __init__(self, nc: Client, bus: BusNames) -> None:
        self._nc = nc
        self._bus = bus

    async def pin(
        self, job_uuid: str, project_uuid: str | None, definition: PipelineDefinition
    ) -> dict[str, str]:
        """Pin the builds of the environments ``definition``'s steps name
        (none without a project, or without a builder in the deployment)."""
        names = sorted({s.environment for s in definition.steps.values() if s.environment})
        if project_uuid is None or not names:
            return {}
        command = PinEnvironments(
            job_uuid=job_uuid, project_uuid=project_uuid, environment_uuids=names
        )
        try:
            pinned = await request_command(
                self._nc,
                self._bus.environment_command("pin"),
                command,
                Pinned,
                timeout=PIN_TIMEOUT_SECONDS,
            )
        except DependencyUnavailable as exc:
            if isinstance(exc.__cause__, NoRespondersError):
                return {}  # no builder in this deployment: nothing is built to pin
            raise
        logger.info("job %s pins %s", job_uuid, pinned.pins)
        return pinned.pins
