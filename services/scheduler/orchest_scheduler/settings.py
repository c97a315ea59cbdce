"""Settings of the scheduler (``ORCHEST_*``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, PositiveFloat

from orchest_service.settings import ServiceSettings


def _default_jobs_dir() -> Path:
    return Path.home() / ".local" / "share" / "orchest" / "jobs"


def _default_projects_dir() -> Path:
    return Path.home() / ".local" / "share" / "orchest" / "projects"


def _default_templates_dir() -> Path | None:
    """The repository's ``examples/`` when the package runs from a checkout."""
    examples = Path(__file__).resolve().parents[3] / "examples"
    return examples if examples.is_dir() else None


class SchedulerSettings(ServiceSettings):
    jobs_dir: Path = Field(default_factory=_default_jobs_dir)
    """Where job snapshots and their runs' workspaces live. Every step runner
    must see it at the same path (one host, or a shared volume)."""
    max_parallel_job_runs: int = Field(default=8, ge=1)
    """Job runs executing at once, over all jobs (the others wait, queued)."""
    job_max_parallel_runs: int = Field(default=4, ge=1)
    """Runs of one job executing at once, unless the job sets its own limit."""
    projects_dir: Path = Field(default_factory=_default_projects_dir)
    """Every folder in it is a project (created there by the API or by hand)."""
    templates_dir: Path | None = Field(default_factory=_default_templates_dir)
    """Project templates (``POST /api/projects {template}``): one folder each."""
    job_sweep_seconds: PositiveFloat = 5.0
    """How often the safety nets of jobs run (admission, recovery, completion)."""
    lease_sweep_seconds: PositiveFloat = 5.0
    """How often the scheduler looks for running attempts whose lease lapsed
    with no heartbeat (it ends them: next attempt, or failure)."""
