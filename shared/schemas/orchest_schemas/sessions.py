"""Interactive sessions as the HTTP API returns them (``docs/sessions.md``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .status import SessionStatus


class _View(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class SessionView(_View):
    uuid: str
    project_uuid: str
    pipeline_uuid: str
    project_dir: str
    pipeline_path: str
    runtime: str
    """``process`` or ``docker``."""
    status: SessionStatus
    reason: str | None = None
    """Why the session is ``FAILED`` (or why it stopped, when it did on its own)."""
    jupyter_url: str | None = None
    """The Jupyter server (once ``RUNNING``); its REST API wants ``jupyter_token``."""
    jupyter_token: str | None = None
    gateway_url: str | None = None
    """The Enterprise Gateway that starts the session's kernels."""
    details: dict[str, Any] = Field(default_factory=dict)
    """What runs for the session (processes or containers), as the runtime reports it."""
    created_time: datetime
    updated_time: datetime


class SessionList(_View):
    sessions: list[SessionView]
    total: int
    limit: int
    offset: int
