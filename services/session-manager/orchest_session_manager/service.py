"""The session manager as a service: what it owns and how it serves."""

from __future__ import annotations

from orchest_runtime.service import ServiceDefinition
from orchest_schemas.bus import ServiceName

DEFINITION = ServiceDefinition(
    name=ServiceName.SESSION_MANAGER,
    distribution="orchest-session-manager",
    description="Owns interactive sessions: Jupyter servers, Enterprise Gateways, kernels.",
    uses_database=True,
    db_schema="session_manager",
    migrations_package="orchest_session_manager.migrations",
)
