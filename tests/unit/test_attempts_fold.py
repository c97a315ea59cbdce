"""A run's step attempts folded from its step events (``attempts.fold_attempts``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orchest_gateway.attempts import LOST, fold_attempts
from orchest_schemas.events import StepStatusChanged
from orchest_schemas.status import StepStatus

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(second: int) -> datetime:
    return T0 + timedelta(seconds=second)


def event(step: str, attempt: int, status: str, second: int, **extra: object) -> StepStatusChanged:
    return StepStatusChanged(
        run_uuid="r",
        pipeline_uuid="p",
        step_uuid=step,
        attempt=attempt,
        status=StepStatus(status),
        occurred_at=at(second),
        **extra,  # type: ignore[arg-type]
    )


def test_a_retried_step_has_two_attempts_with_their_outcomes_and_times() -> None:
    events = [
        event("a", 1, "PENDING", 0),
        event("a", 1, "STARTED", 1),
        event("a", 1, "FAILURE", 3, exit_code=3, error="exit code 3"),
        event("a", 2, "PENDING", 3),
        event("a", 2, "STARTED", 5),
        event("a", 2, "SUCCESS", 6, exit_code=0, artifacts=["executed.ipynb"]),
    ]
    got = fold_attempts("r", events).attempts
    assert [(a.attempt, a.status) for a in got] == [(1, "FAILURE"), (2, "SUCCESS")]
    first, second = got
    assert (first.started_time, first.finished_time) == (at(1), at(3))
    assert (first.exit_code, first.error) == (3, "exit code 3")
    assert (second.started_time, second.finished_time) == (at(5), at(6))
    assert second.artifacts == ["executed.ipynb"]


def test_steps_keep_apart_and_attempts_come_in_the_order_made() -> None:
    events = [
        event("a", 1, "STARTED", 1),
        event("b", 1, "STARTED", 2),
        event("b", 1, "SUCCESS", 3),
        event("a", 1, "SUCCESS", 4),
    ]
    got = fold_attempts("r", events).attempts
    assert [(a.step_uuid, a.status) for a in got] == [("a", "SUCCESS"), ("b", "SUCCESS")]


def test_a_running_attempt_superseded_by_the_next_lost_its_runner() -> None:
    reason = "attempt 1 lost its runner (no heartbeat within its lease)"
    lapsed = [event("a", 1, "STARTED", 1), event("a", 2, "PENDING", 9, error=reason)]
    first = fold_attempts("r", lapsed).attempts[0]
    assert (first.status, first.finished_time, first.error) == ("FAILURE", at(9), reason)
    # A redelivered claim granted as the next attempt says nothing of the lost one.
    redelivered = [event("a", 1, "STARTED", 1), event("a", 2, "STARTED", 9)]
    got = fold_attempts("r", redelivered).attempts
    assert (got[0].status, got[0].error) == ("FAILURE", LOST)
    assert (got[1].status, got[1].started_time) == ("STARTED", at(9))


def test_running_and_waiting_attempts_stay_open() -> None:
    got = fold_attempts("r", [event("a", 1, "PENDING", 0), event("b", 1, "STARTED", 1)]).attempts
    assert [(a.status, a.started_time, a.finished_time) for a in got] == [
        ("PENDING", None, None),
        ("STARTED", at(1), None),
    ]


def test_aborts_before_any_attempt_and_a_stale_attempts_word_are_ignored() -> None:
    events = [
        event("never", 0, "ABORTED", 1),
        event("a", 1, "STARTED", 1),
        event("a", 2, "STARTED", 5),
        event("a", 1, "SUCCESS", 6),  # the overtaken attempt's late report
        event("a", 2, "ABORTED", 7),
    ]
    got = fold_attempts("r", events).attempts
    assert [(a.step_uuid, a.attempt, a.status) for a in got] == [
        ("a", 1, "FAILURE"),
        ("a", 2, "ABORTED"),
    ]
