"""Status values of runs, steps, jobs and sessions (``docs/runs.md#states``,
``docs/sessions.md#states``, ``docs/jobs.md#states``)."""

from __future__ import annotations

from enum import StrEnum

_END_STATES = frozenset({"SUCCESS", "FAILURE", "ABORTED"})


class _Ends:
    """The end states of runs, steps and builds, which never change."""

    value: str

    @property
    def is_final(self) -> bool:
        """End states never change."""
        return self.value in _END_STATES


class RunStatus(_Ends, StrEnum):
    """Status of a pipeline run; also used for each of its steps."""

    PENDING = "PENDING"
    STARTED = "STARTED"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    ABORTED = "ABORTED"


StepStatus = RunStatus
"""Steps go through the same states as runs."""


class JobStatus(StrEnum):
    """Status of a job (``docs/jobs.md#states``)."""

    DRAFT = "DRAFT"
    PENDING = "PENDING"
    STARTED = "STARTED"
    PAUSED = "PAUSED"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    ABORTED = "ABORTED"


class SessionStatus(StrEnum):
    """Status of an interactive session (``docs/sessions.md#states``)."""

    LAUNCHING = "LAUNCHING"
    RUNNING = "RUNNING"
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"
    FAILED = "FAILED"


class RunType(StrEnum):
    """Which steps of the pipeline a run executes (``docs/runs.md#what-a-run-executes``)."""

    FULL = "full"
    SELECTION = "selection"
    INCOMING = "incoming"
    SELECTION_WITH_ANCESTORS = "selection_with_ancestors"
    DOWNSTREAM = "downstream"
    RERUN_FAILED = "rerun_failed"


class Priority(StrEnum):
    """Priority class of step work: interactive work always comes first."""

    INTERACTIVE = "interactive"
    JOB = "job"


class BuildStatus(_Ends, StrEnum):
    PENDING = "PENDING"
    STARTED = "STARTED"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    ABORTED = "ABORTED"
