"""The run engine: pure decisions over a run's state.

Every input (start, a runner's claim, an attempt's end and the hand-off that
may follow it, a retry coming due, a lapsed lease, an abort) changes a
``RunState`` in place and returns a
``Plan``: the step and run status changes to record and announce, the
attempts to dispatch, the retries to wait for and the attempts to cancel.
``plan_store`` persists a plan and the outbox publishes it; nothing here
does I/O.

Step lifecycle (``docs/runs.md#states``): ``PENDING -> STARTED -> SUCCESS | FAILURE``,
``PENDING | STARTED -> ABORTED``. A pending step is *dispatched* once the work
of its current attempt is published; it starts when a runner's claim of that
attempt is granted, or when a decision hands it to a runner that reported an
attempt of the run (``hand_off``: no work message, no claim). At most
``MAX_QUEUED`` attempts of a run wait in the work queue: its other ready
steps are *held* for hand-offs, or queued as the queue's ones are taken. A
failed attempt with retries left goes back to ``PENDING`` as the next
attempt after a backoff.

The state it decides over (``RunState``, ``StepState``) and what a decision
returns (``Plan``) are in ``run_state.py``. Past 400 lines, on purpose: every
decision changes the same state through the same few helpers, and reads best
beside the others.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator

from orchest_schemas.status import RunStatus, StepStatus

from .run_state import (
    ClaimDecision,
    Plan,
    Retry,
    RunState,
    StepChange,
    StepState,
    in_queue,
    ready,
)

DEFAULT_LEASE_SECONDS = 30.0
"""The lease of a claim that does not say its own (a runner's default ack wait)."""


def lost_lease_error(times: int) -> str:
    """Why a step whose runner was lost ``times`` times failed."""
    return f"lost its runner {times} times (no heartbeat within its lease)"


def start(run: RunState) -> Plan:
    """Dispatch the steps that are ready when the run is created."""
    plan = Plan()
    _dispatch_ready(run, plan)
    return plan


def claim(
    run: RunState,
    step_uuid: str,
    attempt: int,
    runner_id: str,
    redelivered: bool,
    lease_seconds: float | None = None,
) -> tuple[ClaimDecision, Plan]:
    """A runner asks to run ``attempt``: granted only for the current,
    dispatched attempt of a pending step of a run that goes on.

    A redelivered claim of the step's live work message while another runner
    holds the step means that runner's lease lapsed (it died): the step runs
    again as the next attempt, and after ``run.max_lost_leases`` of those it
    fails. A lost attempt counts once: if the lease sweep saw it first
    (``lease_lapsed``), the step has new work and the old message is stale.
    """
    plan = Plan()
    step = run.steps.get(step_uuid)
    if step is None:
        return ClaimDecision(False, attempt, "no such step in the run"), plan
    if run.status.is_final or run.abort_requested:
        return ClaimDecision(False, attempt, f"the run is {run.status.value}"), plan
    if (
        step.status is StepStatus.STARTED
        and step.runner_id == runner_id
        and attempt == step.attempt
    ):
        return ClaimDecision(True, attempt), plan  # the same claim again (its answer was lost)
    live_message = step.work_attempt <= attempt <= step.attempt  # not work published before
    lost_lease = (
        step.status is StepStatus.STARTED
        and redelivered
        and runner_id != step.runner_id
        and live_message
    )
    if lost_lease:
        # The work message carries the attempt it was first published with;
        # each redelivery after a lost lease runs as the next attempt.
        if _lose_lease(run, step, plan):
            return ClaimDecision(False, attempt, "too many lost leases"), plan
        attempt = step.attempt
    elif attempt != step.attempt:
        reason = f"attempt {attempt} is stale (now {step.attempt})"
        return ClaimDecision(False, attempt, reason), plan
    elif step.status is not StepStatus.PENDING or not step.dispatched:
        return ClaimDecision(False, attempt, f"the step is {step.status.value}"), plan
    queued = in_queue(step)
    step.status = StepStatus.STARTED
    step.runner_id = runner_id
    step.handed_by = None  # claimed, not handed over
    step.lease_seconds = lease_seconds or DEFAULT_LEASE_SECONDS
    plan.changes.append(StepChange(step.uuid, step.status, step.attempt, runner_id=runner_id))
    if run.status is RunStatus.PENDING:
        run.status = RunStatus.STARTED
        plan.run_status = run.status
    if queued:
        run.queued -= 1
        _dispatch_ready(run, plan, [])  # the queue has room for a held step
    return ClaimDecision(True, attempt), plan


def finish(
    run: RunState,
    step_uuid: str,
    attempt: int,
    status: StepStatus,
    exit_code: int | None,
    error: str | None,
    artifacts: tuple[str, ...] = (),
) -> Plan:
    """An attempt ended. A report of an attempt that is not the step's
    running one (stale, or the run was aborted meanwhile) changes nothing."""
    plan = Plan()
    step = run.steps.get(step_uuid)
    if step is None or step.status is not StepStatus.STARTED or attempt != step.attempt:
        return plan
    retries_used = step.attempt - 1 - step.lost_leases  # a lost runner is not the step's fault
    if status is StepStatus.FAILURE and retries_used < step.max_retries and not run.abort_requested:
        delay = step.retry_backoff * (2**retries_used)
        plan.changes.append(
            StepChange(
                step.uuid,
                StepStatus.FAILURE,
                step.attempt,
                exit_code,
                error,
                step.runner_id,
                artifacts,
            )
        )
        step.status = StepStatus.PENDING
        step.attempt += 1
        step.dispatched = False
        step.retry_wait = True
        plan.changes.append(StepChange(step.uuid, step.status, step.attempt))
        plan.retries.append(Retry(step.uuid, step.attempt, delay))
        _dispatch_ready(run, plan, [])  # under a limit, the slot it held is free meanwhile
        return plan
    _finish_step(run, step, status, exit_code, error, artifacts, plan)
    # Only a success can make steps ready: its children.
    _advance(run, plan, run.children(step.uuid) if status is StepStatus.SUCCESS else [])
    return plan


def hand_off(
    run: RunState, plan: Plan, runner_id: str, lease_seconds: float, report_id: str | None = None
) -> tuple[str, int] | None:
    """Grant an attempt to ``runner_id``, which keeps a slot free for it (it
    reported an attempt of the run): the first step ``plan`` dispatches, else
    the first held one. The step starts now, in the same write as the report's
    decision, and goes to that runner in the answer instead of to the work
    queue. The grant's lease starts at the write, as a claim's does. None if
    no step is ready."""
    if run.status.is_final or run.abort_requested:
        return None
    if plan.dispatch:
        step_uuid, attempt = plan.dispatch.pop(0)
        step = run.steps[step_uuid]
        run.queued -= 1  # counted when dispatched; it never reaches the queue
    else:
        held = _take_held(run)
        if held is None:
            return None
        step = held
        step.attempt = step.attempt or 1
        step.dispatched = True
        attempt = step.attempt
    step.status = StepStatus.STARTED
    step.runner_id = runner_id
    step.lease_seconds = lease_seconds
    step.work_attempt = attempt + 1  # no work message of this attempt exists
    step.handed_by = report_id
    plan.changes.append(StepChange(step.uuid, step.status, attempt, runner_id=runner_id))
    plan.handed.append((step.uuid, attempt))
    if run.status is RunStatus.PENDING:
        run.status = RunStatus.STARTED
        plan.run_status = run.status
    _dispatch_ready(run, plan, [])  # the queue may have room for a held step
    return step.uuid, attempt


def handed_to(run: RunState, report_id: str, runner_id: str) -> tuple[str, int] | None:
    """The attempt the answer to report ``report_id`` handed over, if its
    runner still holds it: the answer again, for a runner that asks again
    because the first answer did not come in time."""
    for step in run.steps.values():
        if (
            step.handed_by == report_id
            and step.status is StepStatus.STARTED
            and step.runner_id == runner_id
        ):
            return step.uuid, step.attempt
    return None


def lease_lapsed(run: RunState, step_uuid: str, attempt: int) -> Plan:
    """The lease of a running attempt lapsed with no heartbeat (the lease
    sweep saw it): the attempt is cancelled and the step dispatched again as
    the next attempt (new work), or it fails after ``run.max_lost_leases``.
    Changes nothing unless ``attempt`` is the step's running one: a lost
    attempt the claim path saw first counts once."""
    plan = Plan()
    step = run.steps.get(step_uuid)
    if step is None or step.status is not StepStatus.STARTED or step.attempt != attempt:
        return plan
    error = f"attempt {attempt} lost its runner (no heartbeat within its lease)"
    _run_again(run, step, plan, error)
    return plan


def hand_back(run: RunState, report_id: str, runner_id: str) -> Plan:
    """Report ``report_id`` came on the ``REPORTS`` stream, applied before from
    its request, whose decision handed an attempt to its runner: a runner
    publishes a report there only once it gave up on every answer, so it never
    got that attempt and never will. The attempt is cancelled (fenced, in
    case) and the step dispatched again as the next attempt now, counted as a
    lost lease as the lease sweep would count it once the lease lapsed."""
    plan = Plan()
    handed = handed_to(run, report_id, runner_id)
    if handed is not None:
        step_uuid, attempt = handed
        error = f"attempt {attempt} was handed to a runner that never got it (answer lost)"
        _run_again(run, run.steps[step_uuid], plan, error)
    return plan


def _run_again(run: RunState, step: StepState, plan: Plan, error: str) -> None:
    """The running attempt of ``step`` is lost: cancel it and dispatch the next
    one (or fail the step after ``run.max_lost_leases``). Nothing once the run
    ended or is aborting: the abort ends it."""
    if run.status.is_final or run.abort_requested:
        return
    if _lose_lease(run, step, plan):
        return
    step.status = StepStatus.PENDING
    step.dispatched = False
    step.runner_id = None
    step.handed_by = None
    plan.changes.append(StepChange(step.uuid, step.status, step.attempt, error=error))
    _dispatch_ready(run, plan, [step.uuid])


def _lose_lease(run: RunState, step: StepState, plan: Plan) -> bool:
    """Count a lost lease of the step's running attempt and cancel it (its
    runner may be alive but cut off); True if the step failed for it, else
    the step moves on to the next attempt."""
    plan.cancel.append((step.uuid, step.attempt))
    step.lost_leases += 1
    if step.lost_leases >= run.max_lost_leases:
        error = lost_lease_error(step.lost_leases)
        _finish_step(run, step, StepStatus.FAILURE, None, error, (), plan)
        _advance(run, plan, [])
        return True
    step.attempt += 1
    return False


def retry_due(run: RunState, step_uuid: str, attempt: int) -> Plan:
    """The backoff of a retry is over: dispatch it (within the limits)."""
    plan = Plan()
    step = run.steps.get(step_uuid)
    if step is None or not step.retry_wait or step.attempt != attempt or run.status.is_final:
        return plan
    step.retry_wait = False
    _dispatch_ready(run, plan, [step.uuid])
    return plan


def abort(run: RunState) -> Plan:
    """Abort: every unfinished step ABORTED, running attempts cancelled.
    Idempotent: aborting an ended run changes nothing."""
    plan = Plan()
    if run.status.is_final:
        return plan
    run.abort_requested = True
    for step in run.steps.values():
        if step.status.is_final:
            continue
        if step.status is StepStatus.STARTED:
            plan.cancel.append((step.uuid, step.attempt))
        _set_final(run, step, StepStatus.ABORTED, None, "the run was aborted", plan)
    _advance(run, plan, [])
    return plan


def run_status_when_done(run: RunState) -> RunStatus:
    """ABORTED if aborted, FAILURE if any step failed, else SUCCESS.

    A step that ended ABORTED in a run nobody aborted (its runner killed it)
    did not succeed either: the run is a FAILURE.
    """
    if run.abort_requested:
        return RunStatus.ABORTED
    if all(s.status is StepStatus.SUCCESS for s in run.steps.values()):
        return RunStatus.SUCCESS
    return RunStatus.FAILURE


def _finish_step(
    run: RunState,
    step: StepState,
    status: StepStatus,
    exit_code: int | None,
    error: str | None,
    artifacts: tuple[str, ...],
    plan: Plan,
) -> None:
    _set_final(run, step, status, exit_code, error, plan, artifacts)
    if status is StepStatus.SUCCESS or run.abort_requested:
        return
    if run.fail_fast:
        for other in run.steps.values():
            if other.status.is_final:
                continue
            if other.status is StepStatus.STARTED:
                plan.cancel.append((other.uuid, other.attempt))
            ended = "failed" if status is StepStatus.FAILURE else "was aborted"
            error = f"fail-fast: step {step.uuid} {ended}"
            _set_final(run, other, StepStatus.ABORTED, None, error, plan)
        return
    for other in _descendants(run, step.uuid):
        if not other.status.is_final:
            _set_final(
                run, other, StepStatus.ABORTED, None, f"an ancestor failed: {step.uuid}", plan
            )


def _set_final(
    run: RunState,
    step: StepState,
    status: StepStatus,
    exit_code: int | None,
    error: str | None,
    plan: Plan,
    artifacts: tuple[str, ...] = (),
) -> None:
    if not step.status.is_final:
        run.remaining -= 1
    if in_queue(step):
        run.queued -= 1
    step.status = status
    step.retry_wait = False
    plan.changes.append(
        StepChange(step.uuid, status, step.attempt, exit_code, error, step.runner_id, artifacts)
    )


def _advance(run: RunState, plan: Plan, candidates: list[str] | None = None) -> None:
    """After a step ended: start what became ready, or end the run."""
    if run.remaining == 0:
        if not run.status.is_final:
            run.status = run_status_when_done(run)
            plan.run_status = run.status
        return
    _dispatch_ready(run, plan, candidates)


def _dispatch_ready(run: RunState, plan: Plan, candidates: list[str] | None = None) -> None:
    """Dispatch the pending steps whose parents all succeeded, in order, within
    ``max_parallel`` and ``max_queued`` (a ready step the queue has no room for
    is held). Without a limit, only ``candidates`` (the steps that may have
    become ready) and the held steps are looked at, when given: no scan of the
    whole run."""
    if run.status.is_final or run.abort_requested:
        return
    limit = run.max_parallel
    in_flight = sum(1 for s in run.steps.values() if s.in_flight) if limit else 0
    if limit or candidates is None:
        steps: Iterable[StepState] = run.steps.values()
    else:
        steps = itertools.chain(_from_held(run), (run.steps[uuid] for uuid in candidates))
    cap = run.max_queued
    for step in steps:
        if limit and in_flight >= limit:
            return
        if not ready(run, step):
            run.held.pop(step.uuid, None)
            continue
        if cap and run.queued >= cap:
            if not limit:
                run.held[step.uuid] = None
            continue
        run.held.pop(step.uuid, None)
        if step.attempt == 0:
            step.attempt = 1
        step.dispatched = True
        step.work_attempt = step.attempt
        plan.dispatch.append((step.uuid, step.attempt))
        run.queued += 1
        in_flight += 1


def _from_held(run: RunState) -> Iterator[StepState]:
    """The held steps still ready, first come first, while the queue has room
    (the caller takes each out of the held ones as it dispatches it)."""
    while run.held and not (run.max_queued and run.queued >= run.max_queued):
        uuid = next(iter(run.held))
        step = run.steps[uuid]
        if ready(run, step):
            yield step
        else:
            del run.held[uuid]


def _take_held(run: RunState) -> StepState | None:
    """The first held step still ready, taken out of the held ones (no limit only)."""
    if run.max_parallel:
        return None  # under a limit nothing is held: dispatch took what the limit allows
    while run.held:
        uuid = next(iter(run.held))
        del run.held[uuid]
        step = run.steps[uuid]
        if ready(run, step):
            return step
    return None


def _descendants(run: RunState, step_uuid: str) -> list[StepState]:
    seen: set[str] = set()
    stack = list(run.children(step_uuid))
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.add(current)
            stack.extend(run.children(current))
    return [s for s in run.steps.values() if s.uuid in seen]
