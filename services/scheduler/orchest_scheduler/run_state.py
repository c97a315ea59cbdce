"""A run's state as the engine decides over it (``engine.py``), and what a
decision returns: the ``Plan`` to write and announce.

Pure data and the two predicates the state keeps its counts by; the
decisions themselves are the engine's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from orchest_schemas.status import RunStatus, StepStatus

MAX_QUEUED = 32
"""At most this many of a run's attempts wait in the work queue at once; the
run's other ready steps are *held*: handed to the runners that report the
run's attempts (``hand_off``), or queued as the queue's ones are taken. A
wide fan-out then flows from report to report, with no work message and no
claim for most of its steps, while idle slots still find work in the queue."""


@dataclass
class StepState:
    uuid: str
    parents: tuple[str, ...]
    status: StepStatus = StepStatus.PENDING
    attempt: int = 0
    """The latest attempt assigned (0: none yet)."""
    dispatched: bool = False
    """Work of ``attempt`` has been published."""
    retry_wait: bool = False
    """``attempt`` waits for its backoff before it is dispatched."""
    max_retries: int = 0
    retry_backoff: float = 1.0
    runner_id: str | None = None
    lost_leases: int = 0
    work_attempt: int = 0
    """The attempt the step's live work message was published with (0: not
    known, a row written before it was kept). A lost lease seen on a claim
    reuses that message; one seen by the lease sweep publishes a new one."""
    lease_seconds: float = 0.0
    """The lease its runner asked for when its claim was granted (0: none yet)."""
    handed_by: str | None = field(default=None, compare=False, repr=False)
    """The report whose answer handed this attempt over (written with the
    grant, so the same report asked again gets the same answer,
    ``handed_to``, from this scheduler or one started since)."""

    @property
    def in_flight(self) -> bool:
        """Holds (or is about to hold) a runner slot."""
        return self.status is StepStatus.STARTED or (
            self.status is StepStatus.PENDING and self.dispatched
        )


@dataclass
class RunState:
    status: RunStatus
    steps: dict[str, StepState]
    """In topological order: dispatch follows it."""
    fail_fast: bool = False
    max_parallel: int = 0
    """0: no limit beyond the runners' slots."""
    abort_requested: bool = False
    max_lost_leases: int = 3
    """A step whose runner was lost this many times fails (``settings.max_lost_leases``)."""
    max_queued: int = MAX_QUEUED
    """At most this many attempts in the work queue at once (0: no cap)."""
    remaining: int = field(init=False, repr=False, compare=False)
    """Steps not ended yet (kept up to date by the engine)."""
    queued: int = field(init=False, repr=False, compare=False)
    """Steps whose dispatched attempt waits in the work queue (kept up to date)."""
    held: dict[str, None] = field(init=False, repr=False, compare=False)
    """Ready steps not dispatched for ``max_queued``, in the order they became
    ready (an ordered set; a step in it may since have been dispatched,
    handed over or ended: checked when taken)."""
    _children: dict[str, list[str]] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        self.remaining = sum(1 for s in self.steps.values() if not s.status.is_final)
        self.queued = sum(1 for s in self.steps.values() if in_queue(s))
        self.held = {}
        if self.max_queued and not self.max_parallel:
            self.held = {s.uuid: None for s in self.steps.values() if ready(self, s)}

    def children(self, step_uuid: str) -> list[str]:
        """The steps of the run that depend directly on ``step_uuid``, in order."""
        if self._children is None:
            self._children = {uuid: [] for uuid in self.steps}
            for step in self.steps.values():
                for parent in step.parents:
                    self._children[parent].append(step.uuid)
        return self._children[step_uuid]


@dataclass(frozen=True)
class StepChange:
    """A step's new state, announced as one ``StepStatusChanged``."""

    step_uuid: str
    status: StepStatus
    attempt: int
    exit_code: int | None = None
    error: str | None = None
    runner_id: str | None = None
    artifacts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Retry:
    step_uuid: str
    attempt: int
    delay_seconds: float


@dataclass
class Plan:
    changes: list[StepChange] = field(default_factory=list)
    run_status: RunStatus | None = None
    """The run's new status, when it changed."""
    dispatch: list[tuple[str, int]] = field(default_factory=list)
    retries: list[Retry] = field(default_factory=list)
    cancel: list[tuple[str, int]] = field(default_factory=list)
    handed: list[tuple[str, int]] = field(default_factory=list)
    """Attempts granted to the runner that reported (``hand_off``): no work message."""

    @property
    def empty(self) -> bool:
        return not (
            self.changes
            or self.run_status
            or self.dispatch
            or self.retries
            or self.cancel
            or self.handed
        )


@dataclass(frozen=True)
class ClaimDecision:
    granted: bool
    attempt: int
    reason: str | None = None


def ready(run: RunState, step: StepState) -> bool:
    """Pending, not dispatched nor waiting for a retry, its parents all succeeded."""
    if step.status is not StepStatus.PENDING or step.dispatched or step.retry_wait:
        return False
    return all(run.steps[p].status is StepStatus.SUCCESS for p in step.parents)


def in_queue(step: StepState) -> bool:
    """Its dispatched attempt waits in the work queue (or is on its way to a runner)."""
    return step.status is StepStatus.PENDING and step.dispatched
