"""Settings of the session manager (``ORCHEST_*``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, PositiveFloat

from orchest_runtime.settings import ServiceSettings


def _default_sessions_dir() -> Path:
    return Path.home() / ".local" / "share" / "orchest" / "sessions"


class SessionManagerSettings(ServiceSettings):
    sessions_dir: Path = Field(default_factory=_default_sessions_dir)
    """Per-session files of the process runtime: logs, kernelspecs, connection files."""
    runtimes_dir: Path | None = None
    """The isolated environments of Enterprise Gateway and the Jupyter server
    (``None``: the runtime's default)."""
    session_runtime: str = "process"
    """The runtime of a session whose launch names none: ``process`` or ``docker``."""
    session_launch_timeout_seconds: PositiveFloat = 180.0
    """A launch not ready by then fails (the first one builds the environments)."""
    session_health_seconds: PositiveFloat = 5.0
    """How often running sessions are checked; a dead one becomes ``FAILED``."""
    session_stop_on_exit: bool = False
    """Stop this host's sessions when the service is told to stop (``orchest
    down`` sets it). Otherwise sessions outlive a restart of the service."""
