"""The step runner as a service: stateless, no database."""

from __future__ import annotations

from orchest_runtime.service import ServiceDefinition
from orchest_schemas.bus import ServiceName

DEFINITION = ServiceDefinition(
    name=ServiceName.STEP_RUNNER,
    distribution="orchest-step-runner",
    description="Pulls step work by priority and executes it; reports status and logs.",
)
