"""Runs and steps as the HTTP API returns them (Orchest's field names)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .status import RunStatus, RunType, StepStatus


class _View(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class StepView(_View):
    run_uuid: str
    step_uuid: str
    title: str
    file_path: str
    status: StepStatus
    attempt: int
    """0 until the first attempt is dispatched."""
    started_time: datetime | None = None
    finished_time: datetime | None = None
    exit_code: int | None = None
    error: str | None = None
    artifacts: list[str] = Field(default_factory=list)
    """Artifacts of the latest attempt (the executed notebook, for a notebook step)."""


class StepAttempt(_View):
    """One attempt of a step in a run, as its events tell it."""

    step_uuid: str
    attempt: int = Field(ge=1)
    status: StepStatus
    """``PENDING`` while it waits for a runner (or its retry's backoff)."""
    started_time: datetime | None = None
    finished_time: datetime | None = None
    exit_code: int | None = None
    error: str | None = None
    """Why it failed; for an attempt that lost its runner, that."""
    artifacts: list[str] = Field(default_factory=list)


class AttemptList(_View):
    """Every attempt of a run's steps, in the order they were made."""

    run_uuid: str
    attempts: list[StepAttempt]


class RunView(_View):
    uuid: str
    pipeline_uuid: str
    project_uuid: str | None = None
    job_uuid: str | None = None
    run_type: RunType
    status: RunStatus
    created_time: datetime
    started_time: datetime | None = None
    finished_time: datetime | None = None
    job_run_index: int | None = None
    """A job's run: the execution (1, 2, ...) of the job that made it."""
    job_run_pipeline_run_index: int | None = None
    """A job's run: the position of its parameter set in the job's list."""
    parameters: dict[str, Any] | None = None
    """A job's run: its parameter set (``pipeline_parameters`` and per step)."""
    pipeline_steps: list[StepView]
    """Exactly the steps this run executes, in a topological order."""


class RunList(_View):
    runs: list[RunView]
    total: int
    limit: int
    offset: int
