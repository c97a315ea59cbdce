"""A run's step attempts, folded from its step events (pure).

The scheduler keeps a step's latest attempt in ``run_steps``; every attempt
before it lives on in the run's event log, one ``StepStatusChanged`` per
move. Read in their order, those events tell each attempt: ``PENDING`` when
it was made (a retry's next attempt), ``STARTED`` when a runner's claim was
granted, then its end with the exit code and error. An attempt still
unfinished when a later one of its step moves lost its runner: it ends
there as a ``FAILURE``, with the reason the later event gives.
"""

from __future__ import annotations

from collections.abc import Iterable

from orchest_schemas.events import StepStatusChanged
from orchest_schemas.runs import AttemptList, StepAttempt
from orchest_schemas.status import StepStatus

LOST = "lost its runner"
"""The error of an attempt a later one superseded without saying why."""


def fold_attempts(run_uuid: str, events: Iterable[StepStatusChanged]) -> AttemptList:
    """The attempts ``events`` (a run's step events, in their order) tell,
    in the order they were made. Attempt 0 (a step aborted before it was
    ever dispatched) is no attempt."""
    attempts: dict[tuple[str, int], StepAttempt] = {}
    latest: dict[str, int] = {}
    for event in events:
        if event.attempt < 1:
            continue
        key = (event.step_uuid, event.attempt)
        previous = latest.get(event.step_uuid, 0)
        if event.attempt < previous:
            continue  # an overtaken attempt's late word
        if event.attempt > previous:
            _end_lost(attempts, event, previous)
            latest[event.step_uuid] = event.attempt
        attempts[key] = _moved(attempts.get(key), event)
    return AttemptList(run_uuid=run_uuid, attempts=list(attempts.values()))


def _end_lost(
    attempts: dict[tuple[str, int], StepAttempt], event: StepStatusChanged, previous: int
) -> None:
    """The step's ``previous`` attempt, if unfinished, ended when ``event``
    (of a later attempt) happened."""
    old = attempts.get((event.step_uuid, previous))
    if old is None or old.status.is_final:
        return
    attempts[(event.step_uuid, previous)] = old.model_copy(
        update={
            "status": StepStatus.FAILURE,
            "finished_time": event.occurred_at if old.started_time else None,
            "error": event.error or LOST,
        }
    )


def _moved(attempt: StepAttempt | None, event: StepStatusChanged) -> StepAttempt:
    if attempt is None:
        attempt = StepAttempt(step_uuid=event.step_uuid, attempt=event.attempt, status=event.status)
    if event.status is StepStatus.PENDING:
        return attempt
    if event.status is StepStatus.STARTED:
        return attempt.model_copy(
            update={"status": event.status, "started_time": event.occurred_at}
        )
    return attempt.model_copy(
        update={
            "status": event.status,
            "finished_time": event.occurred_at,
            "exit_code": event.exit_code,
            "error": event.error,
            "artifacts": list(event.artifacts),
        }
    )
