"""What ``GET /api/health`` answers, and what the CLI shows of it."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from .errors import ErrorDetail


class _View(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class ServiceInstance(_View):
    """One live instance of a service, as it answered the micro ``PING``/``INFO``."""

    id: str
    version: str
    host: str | None = None
    pid: int | None = None
    started: datetime | None = None
    endpoints: list[str] = Field(default_factory=list)
    metadata: dict[str, str] = Field(default_factory=dict)
    """What else the instance says of itself (a step runner: ``isolation``,
    how its steps see the file system)."""


class ServiceHealth(_View):
    name: str
    up: bool
    instances: list[ServiceInstance] = Field(default_factory=list)


class DependencyHealth(_View):
    name: str
    up: bool
    detail: str | None = None


class HealthReport(_View):
    """The health of the stack. It carries ``message`` and ``errors`` too, so
    its 503 form is also the API's one error body."""

    status: str
    """``ok`` when every service has a live instance and every dependency is up."""
    services: list[ServiceHealth]
    dependencies: list[DependencyHealth] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list)
    """Names of the services and dependencies that are down."""
    message: str
    errors: list[ErrorDetail] = Field(default_factory=list)
    """One entry per missing service or dependency."""
