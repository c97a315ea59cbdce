"""The runtime port: what the session manager asks of whatever runs its sessions.

A session is a Jupyter Enterprise Gateway (which starts the kernels) and a
Jupyter server connected to it, for one (project, pipeline) (``docs/sessions.md``). A
runtime starts both (as local processes, or as containers), stops them with
everything they started, and lists what it runs so that the session manager,
after a crash, can match it against what Postgres says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from .services import ServiceSpec


@dataclass(frozen=True)
class SessionSpec:
    """What to launch: one session of a pipeline in a project."""

    session_uuid: str
    project_uuid: str
    pipeline_uuid: str
    project_dir: str
    pipeline_path: str
    """Relative to ``project_dir``."""
    env: dict[str, str] = field(default_factory=dict)
    """Variables for the kernels (``ORCHEST_*`` ids, the pipeline's environment variables)."""
    services: tuple[ServiceSpec, ...] = ()
    """The pipeline's interactive services, started with the session (``services.py``)."""


@dataclass(frozen=True)
class SessionEndpoints:
    """Where a running session answers."""

    jupyter_url: str
    """The Jupyter server's base URL (``http://127.0.0.1:<port>/``)."""
    jupyter_token: str
    gateway_url: str
    """Enterprise Gateway's base URL (the Jupyter server's ``GatewayClient.url``)."""
    details: dict[str, Any] = field(default_factory=dict)
    """Runtime specific (process ids, container ids, log files)."""


@dataclass(frozen=True)
class Owned:
    """One thing a runtime runs for a session: a process, a container."""

    session_uuid: str
    role: str
    """``enterprise-gateway``, ``jupyter-server``, ``kernel`` (or what a kernel started)."""
    ref: str
    """What names it in its runtime, never reused: ``<pid>@<start time>``, a container id."""
    details: dict[str, Any] = field(default_factory=dict)


class LaunchFailed(Exception):
    """A session did not come up; nothing of it is left running."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SessionRuntime(Protocol):
    """Runs sessions. Every method may be called by a new instance after a
    restart of the session manager: the runtime's state is what runs."""

    @property
    def name(self) -> str:
        """``process`` or ``docker`` (the ``sessions.runtime`` column)."""
        ...

    async def launch(self, spec: SessionSpec) -> SessionEndpoints:
        """Start the session; return once Enterprise Gateway and the Jupyter
        server both answer. Raises ``LaunchFailed`` (having stopped whatever
        it started) when they do not."""
        ...

    async def stop(self, session_uuid: str) -> None:
        """End the session and everything it started (kernels included).
        Idempotent: stopping a stopped or unknown session does nothing."""
        ...

    async def alive(self, session_uuid: str) -> bool:
        """Whether the session's Enterprise Gateway and Jupyter server both run."""
        ...

    async def owned(self) -> list[Owned]:
        """Everything this runtime runs, over all sessions (for reconciliation)."""
        ...
