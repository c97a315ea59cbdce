"""What a Docker engine request can end in, as the runtime's own errors:
every ``aiodocker``/``aiohttp`` error and every timeout is translated (``raise
... from``) into one of these, each saying which request failed."""

from __future__ import annotations

from orchest_service.errors import DependencyUnavailable, OrchestError

UNREACHABLE = 900
"""aiodocker's status for an engine it cannot connect to."""


class DockerFailure(OrchestError):
    """A request to the Docker engine failed; ``status`` is the engine's HTTP
    status (``None``: it gave none)."""

    def __init__(self, operation: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{operation}: {message}")
        self.operation = operation
        self.message = message
        self.status = status


class DockerNotFound(DockerFailure):
    """The engine answered 404: no such container or image."""


class DockerUnavailable(DockerFailure, DependencyUnavailable):
    """The engine cannot be reached (transient: worth trying again later)."""


class DockerTimeout(DockerUnavailable):
    """The engine did not answer a request within its timeout."""

    def __init__(self, operation: str, url: str, seconds: float) -> None:
        super().__init__(
            operation, f"the Docker engine at {url} did not answer within {seconds:g} s"
        )
        self.seconds = seconds
