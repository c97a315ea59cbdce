"""What step runners tell the scheduler about the attempts they run.

A runner claims an attempt (request/reply, ``ClaimStep``) before running it:
the scheduler grants the claim only to the current attempt of a step that is
still pending in a run that goes on, so an aborted run or a stale attempt
never starts. When the attempt ends, the runner publishes a
``StepAttemptFinished`` on the ``REPORTS`` stream (durable: it waits there
while the scheduler is down) before acknowledging the work.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import Field, PositiveInt

from ._base import Message, new_id
from .status import StepStatus


def _new_id() -> str:
    return new_id()


def _now() -> datetime:
    return datetime.now(UTC)


class ClaimStep(Message):
    run_uuid: str
    step_uuid: str
    attempt: PositiveInt
    runner_id: str
    redelivered: bool = False
    """The work message was delivered before (a runner's lease may have lapsed)."""


class StepClaim(Message):
    """The scheduler's answer to ``ClaimStep``."""

    granted: bool
    attempt: int | None = None
    """The attempt to run as: a redelivery after a lost lease runs as the next one."""
    reason: str | None = None
    """Why not: the run ended, the step is no longer pending, a newer attempt exists."""


class StepAttemptFinished(Message):
    """An attempt ended: ``SUCCESS`` (exit code 0), ``FAILURE`` (non-zero exit,
    exception, kernel death, timeout) or ``ABORTED`` (killed on request)."""

    kind: Literal["step_attempt_finished"] = "step_attempt_finished"
    report_id: str = Field(default_factory=_new_id)
    """Idempotency key: a redelivered report is applied once."""
    run_uuid: str
    step_uuid: str
    attempt: PositiveInt
    status: Literal[StepStatus.SUCCESS, StepStatus.FAILURE, StepStatus.ABORTED]
    exit_code: int | None = None
    error: str | None = None
    runner_id: str
    artifacts: list[str] = Field(default_factory=list)
    """Names of the objects stored under ``<run>/<step>/<attempt>/`` in the artifacts bucket."""
    started_at: datetime | None = None
    """When the executor started the step (the runner's clock)."""
    finished_at: datetime = Field(default_factory=_now)
    """When the executor returned."""
    execution_seconds: float | None = Field(default=None, ge=0)
    """How long the step itself ran, measured by the runner around the executor."""
