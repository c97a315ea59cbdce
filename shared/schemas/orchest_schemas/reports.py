"""What step runners tell the scheduler about the attempts they run.

A runner claims an attempt (request/reply, ``ClaimStep``) before running it:
the scheduler grants the claim only to the current attempt of a step that is
still pending in a run that goes on, so an aborted run or a stale attempt
never starts. The grant starts the attempt's lease (``lease_seconds``);
while attempts run, the runner sends one ``RunnerHeartbeat`` per interval
for all of them, which renews their leases, and the answer
(``HeartbeatAnswer``) names those no longer current, which the runner kills.
When the attempt ends, the runner sends its ``StepAttemptFinished`` to the
scheduler as a request (``ReportAttempt``), answered once the decision it
led to is committed; an interactive runner that keeps the attempt's slot for
the run's next step gets a ready step's attempt granted in the same decision
and in the answer (``ReportAnswer.work``), with no claim. A report not
answered in time is published on the ``REPORTS`` stream instead (durable:
it waits there while the scheduler is down). Either way the report is
durable before the work is acknowledged; its ``error`` is bounded
(``bounded_text``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt

from ._base import Message, new_id
from .commands import StepWork
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
    lease_seconds: PositiveFloat | None = None
    """How long the attempt's lease lasts unless renewed (the runner's ack
    wait); ``None``: the scheduler's default (30 s)."""


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


class ReportAttempt(Message):
    """An attempt's report, sent to the scheduler as a request."""

    report: StepAttemptFinished
    next_lease_seconds: PositiveFloat | None = None
    """Set when the runner keeps the attempt's slot for the run's next step:
    a step of the run that is ready (made ready by this report, or held) may
    be granted to it in the answer, with this lease (the runner's ack wait)."""


class ReportAnswer(Message):
    """The scheduler's answer to ``ReportAttempt``, once its decision is committed."""

    work: StepWork | None = None
    """An attempt granted to the reporting runner, to run at once (no claim)."""


class AttemptRef(Message):
    """One attempt of one step of a run."""

    run_uuid: str
    step_uuid: str
    attempt: PositiveInt


class RunnerHeartbeat(Message):
    """A runner's attempts still running: renew their leases (request/reply)."""

    runner_id: str
    lease_seconds: PositiveFloat
    """Each lease lapses this long after the heartbeat unless renewed again."""
    attempts: list[AttemptRef] = Field(max_length=10_000)


class AttemptCurrent(AttemptRef):
    current: bool
    """False: the attempt ended, was superseded or its run aborted: stop it."""


class HeartbeatAnswer(Message):
    """The scheduler's answer to ``RunnerHeartbeat``: every attempt it named."""

    attempts: list[AttemptCurrent]


TRUNCATED_MARKER = "... [truncated: {n} more bytes; the whole output is in the step's log]"


def bounded_text(text: str, max_bytes: int) -> str:
    """``text`` if its UTF-8 is at most ``max_bytes``, else its start cut at a
    character boundary and followed by ``TRUNCATED_MARKER``, the whole within
    ``max_bytes`` (a report must fit a NATS message)."""
    data = text.encode()
    if len(data) <= max_bytes:
        return text
    keep = max(0, max_bytes - len(TRUNCATED_MARKER.format(n=len(data))))
    head = data[:keep].decode(errors="ignore")
    more = len(data) - len(head.encode())
    return head + TRUNCATED_MARKER.format(n=more)
