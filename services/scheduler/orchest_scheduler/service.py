"""The scheduler as a service: what it owns and how it serves."""

from __future__ import annotations

from orchest_runtime.service import ServiceDefinition
from orchest_schemas.bus import ServiceName

DEFINITION = ServiceDefinition(
    name=ServiceName.SCHEDULER,
    distribution="orchest-scheduler",
    description="Owns runs, run steps, jobs and the event log; dispatches step work.",
    uses_database=True,
    db_schema="scheduler",
    migrations_package="orchest_scheduler.migrations",
)
