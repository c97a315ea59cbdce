"""Settings of the gateway."""

from __future__ import annotations

from pydantic import Field, PositiveFloat

from orchest_runtime.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    discovery_timeout_seconds: PositiveFloat = 0.5
    """Longest wait for service instances to answer the health check's discovery."""
    discovery_quiet_seconds: PositiveFloat = 0.05
    """Once every service answered, how long to wait for more replicas."""
