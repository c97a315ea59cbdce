"""Interactive sessions as the HTTP API returns them (``docs/sessions.md``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field

from .status import SessionStatus


class _View(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class SessionService(_View):
    """A user service of the session (the pipeline's ``services`` of scope
    ``interactive``), as its launch left it."""

    name: str
    urls: list[str] = Field(default_factory=list)
    """``http://127.0.0.1:<port>/`` for each of its ``ports``."""
    state: str
    """``running`` (its process ran when the session came up), ``exited``, or
    ``not started: <why>``; it stops with the session."""


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

    @computed_field  # type: ignore[prop-decorator]
    @property
    def services(self) -> list[SessionService]:
        """The pipeline's interactive services (``details.services``)."""
        found = self.details.get("services")
        if not isinstance(found, list):
            return []
        return [SessionService.model_validate(item) for item in found]


class SessionList(_View):
    sessions: list[SessionView]
    total: int
    limit: int
    offset: int
