"""Events: past-tense facts published on the ``EVENTS`` stream.

Every event has an ``event_id`` (the ``Nats-Msg-Id`` header carries it, so
JetStream drops a re-published duplicate, and the scheduler's event log is
keyed by it) and the time it happened. Step events carry the attempt number:
an event of an attempt that is no longer the current one is ignored (fencing).
The ``kind`` field tells the events apart when they are read as ``AnyEvent``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import Field, PositiveInt, TypeAdapter
from pydantic_core import to_json

from ._base import Message, new_id
from .status import BuildStatus, JobStatus, RunStatus, SessionStatus, StepStatus


def new_event_id() -> str:
    """A new event's ``event_id`` (unique, cheap: ``new_id``; for events built
    without validation)."""
    return new_id()


def _now() -> datetime:
    return datetime.now(UTC)


class Event(Message):
    event_id: str = Field(default_factory=new_event_id)
    occurred_at: datetime = Field(default_factory=_now)


class RunStatusChanged(Event):
    """A run moved to a new status (published by the scheduler)."""

    kind: Literal["run_status_changed"] = "run_status_changed"
    run_uuid: str
    pipeline_uuid: str
    job_uuid: str | None = None
    status: RunStatus
    sequence: int = Field(default=0, ge=0)
    """Order of this event among the run's events (the scheduler's event log)."""


class StepStatusChanged(Event):
    """A step moved to a new status (published by the scheduler, the one
    writer of run state: ``STARTED`` when a runner's claim is granted, the end
    state from the runner's report, ``ABORTED`` of descendants, ``PENDING``
    again with the next attempt on a retry)."""

    kind: Literal["step_status_changed"] = "step_status_changed"
    run_uuid: str
    pipeline_uuid: str
    step_uuid: str
    attempt: int = Field(ge=0)
    """0 for a step that never got an attempt (aborted before it started)."""
    status: StepStatus
    sequence: int = Field(default=0, ge=0)
    exit_code: int | None = None
    error: str | None = None
    runner_id: str | None = None
    artifacts: list[str] = Field(default_factory=list)


def run_status_changed_json(
    *,
    event_id: str,
    occurred_at: datetime,
    run_uuid: str,
    pipeline_uuid: str,
    job_uuid: str | None,
    status: RunStatus,
    sequence: int,
) -> bytes:
    """``RunStatusChanged(...).model_dump_json()``, without building the model:
    for a writer whose values are already typed (the scheduler, for every
    event of every run). Same keys in the same order; the unit tests hold the
    two equal."""
    return to_json(
        {
            "event_id": event_id,
            "occurred_at": occurred_at,
            "kind": "run_status_changed",
            "run_uuid": run_uuid,
            "pipeline_uuid": pipeline_uuid,
            "job_uuid": job_uuid,
            "status": status,
            "sequence": sequence,
        }
    )


def step_status_changed_json(
    *,
    event_id: str,
    occurred_at: datetime,
    run_uuid: str,
    pipeline_uuid: str,
    step_uuid: str,
    attempt: int,
    status: StepStatus,
    sequence: int,
    exit_code: int | None,
    error: str | None,
    runner_id: str | None,
    artifacts: list[str],
) -> bytes:
    """``StepStatusChanged(...).model_dump_json()``, without building the model
    (as ``run_status_changed_json``)."""
    return to_json(
        {
            "event_id": event_id,
            "occurred_at": occurred_at,
            "kind": "step_status_changed",
            "run_uuid": run_uuid,
            "pipeline_uuid": pipeline_uuid,
            "step_uuid": step_uuid,
            "attempt": attempt,
            "status": status,
            "sequence": sequence,
            "exit_code": exit_code,
            "error": error,
            "runner_id": runner_id,
            "artifacts": artifacts,
        }
    )


class JobStatusChanged(Event):
    """A job moved to a new status (published by the scheduler)."""

    kind: Literal["job_status_changed"] = "job_status_changed"
    job_uuid: str
    status: JobStatus
    next_scheduled_time: datetime | None = None
    total_scheduled_executions: int = Field(default=0, ge=0)


class SessionStatusChanged(Event):
    """A session moved to a new status (published by the session manager)."""

    kind: Literal["session_status_changed"] = "session_status_changed"
    project_uuid: str
    pipeline_uuid: str
    status: SessionStatus
    reason: str | None = None


class ProjectChanged(Event):
    """Files of a project changed on disk (an editor, JupyterLab, git): sent
    once per burst of changes (debounced), so a view reloads what it shows."""

    kind: Literal["project_changed"] = "project_changed"
    project_uuid: str
    paths: list[str] = Field(default_factory=list)
    """The files and folders that changed, relative to the project (at most
    ``MAX_CHANGED_PATHS``)."""
    pipelines: list[str] = Field(default_factory=list)
    """Those of ``paths`` that are pipeline files (``*.orchest``)."""
    truncated: bool = False
    """More paths changed than are listed."""


MAX_CHANGED_PATHS = 200


class StepLogChunk(Event):
    """Output of a step attempt, in order (``offset`` is the byte offset of
    ``data`` in the attempt's log). Published on the ``LOGS`` stream."""

    kind: Literal["step_log_chunk"] = "step_log_chunk"
    run_uuid: str
    step_uuid: str
    attempt: PositiveInt
    offset: int = Field(ge=0)
    data: str


class EnvironmentBuildChanged(Event):
    """A build moved to a new status (published by the session manager)."""

    kind: Literal["environment_build_changed"] = "environment_build_changed"
    project_uuid: str
    environment_uuid: str
    build_uuid: str
    status: BuildStatus
    reason: str | None = None
    exit_code: int | None = None


class BuildLogChunk(Event):
    """Output of a build, in order (``offset``: its byte offset in the log)."""

    kind: Literal["build_log_chunk"] = "build_log_chunk"
    build_uuid: str
    offset: int = Field(ge=0)
    data: str


AnyEvent = Annotated[
    RunStatusChanged
    | StepStatusChanged
    | JobStatusChanged
    | SessionStatusChanged
    | ProjectChanged
    | StepLogChunk
    | EnvironmentBuildChanged
    | BuildLogChunk,
    Field(discriminator="kind"),
]

ANY_EVENT: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)
"""Parses any event from its JSON bytes: ``ANY_EVENT.validate_json(data)``."""
