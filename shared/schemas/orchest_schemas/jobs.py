"""Jobs as the HTTP API returns them (Orchest's field names, ``docs/jobs.md``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .commands import ParameterSet, PipelineRunSpec
from .status import JobStatus


class _View(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class JobView(_View):
    uuid: str
    name: str
    pipeline_uuid: str
    project_uuid: str | None = None
    project_dir: str
    """The project the job was made from (its runs use the snapshot, not this)."""
    snapshot_dir: str
    """The frozen copy of the project the job's runs are made from."""
    pipeline_run_spec: PipelineRunSpec
    parameters: list[ParameterSet]
    env_variables: dict[str, str] = Field(default_factory=dict)
    status: JobStatus
    scheduled_start: datetime | None = None
    cron_schedule: str | None = None
    next_scheduled_time: datetime | None = None
    """When the next execution fires (None: nothing scheduled)."""
    last_scheduled_time: datetime | None = None
    total_scheduled_executions: int = 0
    max_retained_pipeline_runs: int = -1
    max_parallel_runs: int | None = None
    created_time: datetime
    finished_time: datetime | None = None
    run_counts: dict[str, int] = Field(default_factory=dict)
    """The job's runs (those still retained) per status."""
    pipeline_definition: dict[str, Any] | None = None
    """The frozen definition (``GET /api/jobs/{uuid}`` only)."""


class JobList(_View):
    jobs: list[JobView]
    total: int
    limit: int
    offset: int


class SchedulePreview(_View):
    """The next firing times of a cron schedule (``GET /api/schedules/preview``)."""

    cron_schedule: str
    time_zone: str = "UTC"
    """The zone the schedule's fields are read in (always UTC)."""
    next_times: list[datetime]
    """The next ``count`` ticks, strictly after ``after``, earliest first."""
    after: datetime
    """The scheduler's clock when it answered."""
