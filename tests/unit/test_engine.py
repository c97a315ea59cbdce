"""The scheduler's run engine: pure decisions over a run's state (``docs/runs.md``).

Each test builds a ``RunState`` from a ``{step: parents}`` mapping and drives
it the way the scheduler does: ``start``, then a runner's ``claim`` of each
dispatched attempt, then ``finish`` with the attempt's end, ``retry_due`` when
a backoff is over, ``abort`` on request. The plans and states are asserted.
"""

from __future__ import annotations

import copy
import functools
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import pytest

from orchest_scheduler.engine import (
    abort,
    claim,
    finish,
    hand_back,
    hand_off,
    handed_to,
    lease_lapsed,
    lost_lease_error,
    retry_due,
    run_status_when_done,
    start,
)
from orchest_scheduler.run_state import (
    ClaimDecision,
    Plan,
    Retry,
    RunState,
    StepChange,
    StepState,
)
from orchest_schemas.status import RunStatus, StepStatus

Graph = Mapping[str, Sequence[str]]

PENDING = StepStatus.PENDING
STARTED = StepStatus.STARTED
SUCCESS = StepStatus.SUCCESS
FAILURE = StepStatus.FAILURE
ABORTED = StepStatus.ABORTED

DIAMOND: Graph = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}
ABORT_ERROR = "the run was aborted"


def run(
    parents: Graph,
    *,
    retries: int | Mapping[str, int] = 0,
    backoff: float = 1.0,
    fail_fast: bool = False,
    max_parallel: int = 0,
    max_lost_leases: int = 3,
    max_queued: int = 32,
) -> RunState:
    """A new run whose steps, in the mapping's (topological) order, have these parents."""
    steps = {
        uuid: StepState(
            uuid,
            tuple(ps),
            max_retries=retries if isinstance(retries, int) else retries.get(uuid, 0),
            retry_backoff=backoff,
        )
        for uuid, ps in parents.items()
    }
    return RunState(
        status=RunStatus.PENDING,
        steps=steps,
        fail_fast=fail_fast,
        max_parallel=max_parallel,
        max_lost_leases=max_lost_leases,
        max_queued=max_queued,
    )


def statuses(state: RunState) -> dict[str, StepStatus]:
    return {uuid: s.status for uuid, s in state.steps.items()}


def steps_of(plan: Plan) -> list[str]:
    return [uuid for uuid, _ in plan.dispatch]


def grant(state: RunState, step: str, runner: str = "runner-1") -> Plan:
    """A runner claims the step's current attempt; the claim must be granted."""
    attempt = state.steps[step].attempt
    decision, plan = claim(state, step, attempt, runner, False)
    assert decision == ClaimDecision(True, attempt), decision
    return plan


def end(
    state: RunState,
    step: str,
    status: StepStatus = SUCCESS,
    exit_code: int | None = None,
    error: str | None = None,
    artifacts: tuple[str, ...] = (),
) -> Plan:
    """The step's current attempt ended with ``status``."""
    if exit_code is None and status is not ABORTED:
        exit_code = 0 if status is SUCCESS else 1
    return finish(state, step, state.steps[step].attempt, status, exit_code, error, artifacts)


def run_step(state: RunState, step: str, status: StepStatus = SUCCESS) -> Plan:
    """Claim, then end the step's current attempt; the plan of the end."""
    grant(state, step)
    return end(state, step, status)


def unchanged(state: RunState, action: Callable[[RunState], Plan]) -> None:
    """``action`` returns an empty plan and leaves the state as it was."""
    before = copy.deepcopy(state)
    plan = action(state)
    assert plan.empty, plan
    assert plan == Plan()
    assert state == before


# -- start -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("graph", "roots"),
    [
        ({"a": []}, ["a"]),
        (DIAMOND, ["a"]),
        ({"a": [], "b": [], "c": ["a", "b"]}, ["a", "b"]),
        ({"a": [], "b": ["a"], "x": [], "y": ["x"], "z": []}, ["a", "x", "z"]),
        ({"z": [], "y": ["z"], "x": [], "w": ["x", "y"]}, ["z", "x"]),
    ],
    ids=["single", "diamond", "two-roots", "disconnected", "order-of-the-state"],
)
def test_start_dispatches_exactly_the_roots_as_attempt_1(graph: Graph, roots: list[str]) -> None:
    state = run(graph)
    plan = start(state)

    assert plan.dispatch == [(r, 1) for r in roots]
    assert plan.changes == []
    assert plan.run_status is None
    assert plan.retries == []
    assert plan.cancel == []
    assert state.status is RunStatus.PENDING
    for uuid, step in state.steps.items():
        assert step.status is PENDING
        assert step.dispatched is (uuid in roots)
        assert step.attempt == (1 if uuid in roots else 0)


FIVE_ROOTS: Graph = {k: [] for k in "abcde"}


@pytest.mark.parametrize(
    ("max_parallel", "expected"),
    [(0, "abcde"), (1, "a"), (2, "ab"), (4, "abcd"), (5, "abcde"), (9, "abcde")],
)
def test_start_dispatch_is_bounded_by_max_parallel(max_parallel: int, expected: str) -> None:
    state = run(FIVE_ROOTS, max_parallel=max_parallel)
    assert steps_of(start(state)) == list(expected)
    assert [u for u, s in state.steps.items() if s.dispatched] == list(expected)


def test_finished_steps_free_slots_filled_in_topological_order() -> None:
    state = run({"a": [], "b": [], "c": [], "d": ["a"], "e": []}, max_parallel=2)
    assert start(state).dispatch == [("a", 1), ("b", 1)]

    # b is dispatched but not claimed yet: it still holds its slot.
    assert run_step(state, "a").dispatch == [("c", 1)]
    # b ends: d (ready since a succeeded) comes before e in the state's order.
    assert run_step(state, "b").dispatch == [("d", 1)]
    assert run_step(state, "c").dispatch == [("e", 1)]
    assert run_step(state, "d").dispatch == []
    plan = run_step(state, "e")
    assert plan.dispatch == []
    assert plan.run_status is RunStatus.SUCCESS


def test_a_claim_does_not_take_a_second_slot() -> None:
    state = run(FIVE_ROOTS, max_parallel=2)
    start(state)
    assert grant(state, "a").dispatch == []
    assert grant(state, "b").dispatch == []
    assert [u for u, s in state.steps.items() if s.dispatched] == ["a", "b"]


# -- dependencies ----------------------------------------------------------------------


@pytest.mark.parametrize("first", ["b", "c"])
def test_diamond_join_waits_for_all_parents(first: str) -> None:
    second = "c" if first == "b" else "b"
    state = run(DIAMOND)
    assert steps_of(start(state)) == ["a"]
    assert run_step(state, "a").dispatch == [("b", 1), ("c", 1)]
    grant(state, "b")
    grant(state, "c")

    plan = end(state, first)
    assert plan.dispatch == []
    assert state.steps["d"].dispatched is False
    assert state.steps["d"].attempt == 0

    assert end(state, second).dispatch == [("d", 1)]
    assert state.steps["d"].dispatched is True


@pytest.mark.parametrize(
    ("graph", "after_root"),
    [
        ({"a": [], "b": ["a"], "c": ["a"], "d": ["a"]}, ["b", "c", "d"]),
        ({"a": [], "d": ["a"], "c": ["a"], "b": ["a"]}, ["d", "c", "b"]),
        ({"a": [], "c": ["a"], "x": [], "b": ["a"]}, ["c", "b"]),
    ],
)
def test_dispatch_follows_the_state_step_order(graph: Graph, after_root: list[str]) -> None:
    state = run(graph)
    start(state)
    assert steps_of(run_step(state, "a")) == after_root


@pytest.mark.parametrize(
    "graph",
    [
        DIAMOND,
        {"a": [], "b": [], "c": ["a"], "d": ["b", "c"], "e": ["a", "d"], "f": []},
        {"r": [], "s": ["r"], "t": ["s"], "u": ["r", "t"], "v": []},
    ],
)
def test_one_slot_runs_the_steps_in_the_state_order(graph: Graph) -> None:
    state = run(graph, max_parallel=1)
    order = steps_of(start(state))
    while order[-1:] and state.steps[order[-1]].status is PENDING:
        order += steps_of(run_step(state, order[-1]))
    assert order == list(graph)
    assert state.status is RunStatus.SUCCESS


# -- claim -----------------------------------------------------------------------------


def test_claim_of_the_dispatched_attempt_starts_the_step_and_the_run_once() -> None:
    state = run(DIAMOND)
    start(state)
    decision, plan = claim(state, "a", 1, "runner-7", False)
    assert decision == ClaimDecision(True, 1, None)
    assert plan.changes == [StepChange("a", STARTED, 1, runner_id="runner-7")]
    assert plan.run_status is RunStatus.STARTED
    assert not (plan.dispatch or plan.retries or plan.cancel)
    assert state.status is RunStatus.STARTED
    assert state.steps["a"].status is STARTED
    assert state.steps["a"].runner_id == "runner-7"

    end(state, "a")
    decision, plan = claim(state, "b", 1, "runner-8", False)
    assert decision.granted
    assert plan.changes == [StepChange("b", STARTED, 1, runner_id="runner-8")]
    assert plan.run_status is None  # the run started already
    assert state.status is RunStatus.STARTED


def _setup_fresh(state: RunState) -> None:
    start(state)


def _setup_started(state: RunState) -> None:
    start(state)
    grant(state, "a", "runner-1")


def _setup_a_succeeded(state: RunState) -> None:
    start(state)
    run_step(state, "a")


def _setup_retry_waits(state: RunState) -> None:
    start(state)
    run_step(state, "a", FAILURE)
    assert state.steps["a"].retry_wait


def _setup_ended(state: RunState) -> None:
    start(state)
    for step in state.steps:
        run_step(state, step)
    assert state.status is RunStatus.SUCCESS


def _setup_aborted(state: RunState) -> None:
    start(state)
    abort(state)


def _setup_aborted_while_started(state: RunState) -> None:
    _setup_started(state)
    abort(state)


# name, setup, step, attempt, runner, redelivered, reason fragment
REFUSED_CLAIMS: list[tuple[str, Callable[[RunState], None], str, int, str, bool, str]] = [
    ("stale-newer", _setup_fresh, "a", 2, "runner-1", False, "stale"),
    ("stale-zero", _setup_fresh, "a", 0, "runner-1", False, "stale"),
    ("stale-redelivered", _setup_started, "a", 2, "runner-2", True, "stale"),
    ("old-attempt-after-retry", _setup_retry_waits, "a", 1, "runner-1", False, "stale"),
    ("undispatched-attempt-0", _setup_fresh, "b", 0, "runner-1", False, "PENDING"),
    ("undispatched-attempt-1", _setup_fresh, "b", 1, "runner-1", False, "stale"),
    ("retry-not-due", _setup_retry_waits, "a", 2, "runner-1", False, "PENDING"),
    ("started-other-runner", _setup_started, "a", 1, "runner-2", False, "STARTED"),
    ("step-succeeded", _setup_a_succeeded, "a", 1, "runner-1", True, "SUCCESS"),
    ("run-ended", _setup_ended, "d", 1, "runner-1", False, "SUCCESS"),
    ("run-ended-redelivered", _setup_ended, "d", 1, "runner-2", True, "SUCCESS"),
    ("run-aborted", _setup_aborted, "a", 1, "runner-1", False, "ABORTED"),
    ("run-aborted-redelivered", _setup_aborted_while_started, "a", 1, "runner-2", True, "ABORTED"),
    ("unknown-step", _setup_started, "nope", 1, "runner-1", False, "no such step"),
]


@pytest.mark.parametrize(
    ("setup", "step", "attempt", "runner", "redelivered", "reason"),
    [c[1:] for c in REFUSED_CLAIMS],
    ids=[c[0] for c in REFUSED_CLAIMS],
)
def test_claim_is_refused(
    setup: Callable[[RunState], None],
    step: str,
    attempt: int,
    runner: str,
    redelivered: bool,
    reason: str,
) -> None:
    state = run(DIAMOND, retries=1)
    setup(state)
    before = copy.deepcopy(state)

    decision, plan = claim(state, step, attempt, runner, redelivered)

    assert decision.granted is False
    assert decision.attempt == attempt
    assert decision.reason is not None and reason in decision.reason
    assert plan.empty
    assert state == before


def test_claim_refused_after_abort_for_every_step() -> None:
    state = run(DIAMOND)
    start(state)
    grant(state, "a")
    end(state, "a")
    grant(state, "b")
    abort(state)
    for uuid, step in state.steps.items():
        for attempt in {0, 1, step.attempt}:
            decision, plan = claim(state, uuid, attempt, "runner-9", True)
            assert not decision.granted
            assert plan.empty


def test_redelivered_claim_by_another_runner_starts_the_next_attempt() -> None:
    state = run({"a": [], "b": ["a"]})
    start(state)
    grant(state, "a", "runner-1")

    decision, plan = claim(state, "a", 1, "runner-2", True)

    assert decision == ClaimDecision(True, 2, None)
    assert plan.changes == [StepChange("a", STARTED, 2, runner_id="runner-2")]
    assert plan.run_status is None
    assert plan.cancel == [("a", 1)]  # the old attempt, in case its runner is only cut off
    assert not (plan.dispatch or plan.retries)
    step = state.steps["a"]
    assert (step.status, step.attempt, step.lost_leases, step.runner_id) == (
        STARTED,
        2,
        1,
        "runner-2",
    )
    # The lost runner's report of attempt 1 is stale now; attempt 2's counts.
    unchanged(state, lambda s: finish(s, "a", 1, SUCCESS, 0, None))
    assert end(state, "a").dispatch == [("b", 1)]


@pytest.mark.parametrize(("retries", "limit"), [(0, 3), (5, 3), (0, 1), (2, 5)])
def test_max_lost_leases_fail_the_step(retries: int, limit: int) -> None:
    limit = limit
    state = run({"a": [], "b": ["a"], "x": []}, retries=retries, max_lost_leases=limit)
    start(state)
    grant(state, "a", "runner-0")
    grant(state, "x", "runner-x")

    for i in range(1, limit):
        decision, plan = claim(state, "a", state.steps["a"].attempt, f"runner-{i}", True)
        assert decision == ClaimDecision(True, i + 1)
        assert state.steps["a"].lost_leases == i
        assert plan.changes == [StepChange("a", STARTED, i + 1, runner_id=f"runner-{i}")]

    last = state.steps["a"].attempt
    decision, plan = claim(state, "a", last, "runner-last", True)

    assert decision.granted is False
    assert decision.reason == "too many lost leases"
    step = state.steps["a"]
    assert step.lost_leases == limit
    assert step.status is FAILURE
    assert step.attempt == last == limit
    assert [(c.step_uuid, c.status, c.attempt) for c in plan.changes] == [
        ("a", FAILURE, last),
        ("b", ABORTED, 0),
    ]
    assert plan.changes[0].error == lost_lease_error(limit)
    assert plan.changes[0].error.startswith(f"lost its runner {limit} times")
    assert plan.retries == []  # retries are not for lost runners
    assert state.status is RunStatus.STARTED  # x is still running
    assert end(state, "x").run_status is RunStatus.FAILURE


def test_second_lost_lease_of_the_same_work_message_is_not_refused_as_stale() -> None:
    state = run({"a": []})
    start(state)
    grant(state, "a", "runner-1")
    # runner-1 dies: the message (attempt 1) goes to runner-2, which runs it as attempt 2.
    assert claim(state, "a", 1, "runner-2", True)[0] == ClaimDecision(True, 2)
    # runner-2 dies too: the same message, still saying attempt 1, goes to runner-3.
    decision, _ = claim(state, "a", 1, "runner-3", True)
    assert decision.granted
    assert decision.attempt == 3
    assert state.steps["a"].runner_id == "runner-3"


# -- finish ----------------------------------------------------------------------------


def test_success_path_ends_the_run_with_success_once() -> None:
    state = run(DIAMOND)
    plans = [start(state)]
    for step in DIAMOND:
        plans.append(grant(state, step, f"runner-{step}"))
        plans.append(end(state, step, SUCCESS, 0, None, (f"{step}.ipynb",)))
        assert plans[-1].changes[0] == StepChange(
            step, SUCCESS, 1, 0, None, f"runner-{step}", (f"{step}.ipynb",)
        )

    assert [p.run_status for p in plans if p.run_status is not None] == [
        RunStatus.STARTED,
        RunStatus.SUCCESS,
    ]
    assert plans[-1].run_status is RunStatus.SUCCESS
    assert state.status is RunStatus.SUCCESS
    assert statuses(state) == dict.fromkeys(DIAMOND, SUCCESS)
    assert all(s.attempt == 1 for s in state.steps.values())
    assert not any(p.retries or p.cancel for p in plans)


STALE_FINISHES: list[tuple[str, Callable[[RunState], None], str, int]] = [
    ("newer-attempt", _setup_started, "a", 2),
    ("attempt-0", _setup_started, "a", 0),
    ("dispatched-not-started", _setup_fresh, "a", 1),
    ("undispatched", _setup_fresh, "b", 1),
    ("already-succeeded", _setup_a_succeeded, "a", 1),
    ("old-attempt-while-retry-waits", _setup_retry_waits, "a", 1),
    ("retry-not-started", _setup_retry_waits, "a", 2),
    ("aborted", _setup_aborted_while_started, "a", 1),
    ("unknown-step", _setup_started, "nope", 1),
]


@pytest.mark.parametrize("status", [SUCCESS, FAILURE, ABORTED])
@pytest.mark.parametrize(
    ("setup", "step", "attempt"),
    [c[1:] for c in STALE_FINISHES],
    ids=[c[0] for c in STALE_FINISHES],
)
def test_stale_finish_report_changes_nothing(
    setup: Callable[[RunState], None], step: str, attempt: int, status: StepStatus
) -> None:
    state = run(DIAMOND, retries=1)
    setup(state)
    unchanged(state, lambda s: finish(s, step, attempt, status, 1, "late", ("x",)))


FAIL_GRAPH: Graph = {"a": [], "b": ["a"], "c": ["b"], "x": [], "d": ["a", "x"], "y": ["x"]}


def test_failure_aborts_descendants_and_independent_branches_go_on() -> None:
    state = run(FAIL_GRAPH)
    assert steps_of(start(state)) == ["a", "x"]
    grant(state, "a", "runner-a")
    grant(state, "x", "runner-x")

    plan = end(state, "a", FAILURE, 3, "boom", ("log.txt",))

    assert plan.changes[0] == StepChange("a", FAILURE, 1, 3, "boom", "runner-a", ("log.txt",))
    aborted = plan.changes[1:]
    assert [c.step_uuid for c in aborted] == ["b", "c", "d"]
    for change in aborted:
        assert change.status is ABORTED
        assert change.attempt == 0
        assert change.error == "an ancestor failed: a"
    assert plan.run_status is None
    assert not (plan.dispatch or plan.retries or plan.cancel)
    assert statuses(state) == {
        "a": FAILURE,
        "b": ABORTED,
        "c": ABORTED,
        "x": STARTED,
        "d": ABORTED,
        "y": PENDING,
    }

    plan = end(state, "x")
    assert plan.dispatch == [("y", 1)]  # d is aborted: not dispatched
    assert plan.run_status is None
    plan = run_step(state, "y")
    assert plan.run_status is RunStatus.FAILURE
    assert state.status is RunStatus.FAILURE


def test_failure_of_the_last_running_step_ends_the_run() -> None:
    state = run({"a": [], "b": ["a"], "c": ["b"]})
    start(state)
    run_step(state, "a")
    plan = run_step(state, "b", FAILURE)
    assert [(c.step_uuid, c.status) for c in plan.changes] == [("b", FAILURE), ("c", ABORTED)]
    assert plan.run_status is RunStatus.FAILURE
    assert statuses(state) == {"a": SUCCESS, "b": FAILURE, "c": ABORTED}


def test_error_of_an_aborted_grandchild_names_the_failed_step() -> None:
    state = run({"r": [], "a": ["r"], "b": ["a"], "c": ["b"]})
    start(state)
    run_step(state, "r")
    plan = run_step(state, "a", FAILURE)
    assert {c.step_uuid: c.error for c in plan.changes[1:]} == {
        "b": "an ancestor failed: a",
        "c": "an ancestor failed: a",
    }


def test_fail_fast_aborts_every_unfinished_step_and_cancels_the_running_ones() -> None:
    state = run(
        {"s": [], "a": ["s"], "b": ["a"], "x": ["s"], "y": ["x"], "z": ["s"], "w": ["s"]},
        fail_fast=True,
    )
    start(state)
    run_step(state, "s")
    grant(state, "a", "runner-a")
    grant(state, "x", "runner-x")
    grant(state, "w", "runner-w")  # z stays dispatched, unclaimed

    plan = end(state, "a", FAILURE, 2, "boom")

    assert plan.changes[0] == StepChange("a", FAILURE, 1, 2, "boom", "runner-a")
    assert [(c.step_uuid, c.status, c.attempt) for c in plan.changes[1:]] == [
        ("b", ABORTED, 0),
        ("x", ABORTED, 1),
        ("y", ABORTED, 0),
        ("z", ABORTED, 1),
        ("w", ABORTED, 1),
    ]
    assert all(c.error == "fail-fast: step a failed" for c in plan.changes[1:])
    assert plan.cancel == [("x", 1), ("w", 1)]
    assert plan.run_status is RunStatus.FAILURE
    assert not (plan.dispatch or plan.retries)
    assert state.status is RunStatus.FAILURE
    assert statuses(state) == {
        "s": SUCCESS,
        "a": FAILURE,
        "b": ABORTED,
        "x": ABORTED,
        "y": ABORTED,
        "z": ABORTED,
        "w": ABORTED,
    }
    # The cancelled attempts' reports and the unclaimed work come too late.
    unchanged(state, lambda s: finish(s, "x", 1, ABORTED, None, "aborted"))
    unchanged(state, lambda s: finish(s, "w", 1, SUCCESS, 0, None))
    decision, plan = claim(state, "z", 1, "runner-z", False)
    assert not decision.granted and plan.empty


def test_fail_fast_waits_for_the_last_retry() -> None:
    state = run({"a": [], "x": []}, retries={"a": 1}, fail_fast=True)
    start(state)
    grant(state, "x")
    plan = run_step(state, "a", FAILURE)
    assert plan.retries == [Retry("a", 2, 1.0)]
    assert plan.cancel == []
    assert statuses(state) == {"a": PENDING, "x": STARTED}

    assert retry_due(state, "a", 2).dispatch == [("a", 2)]
    plan = run_step(state, "a", FAILURE)
    assert plan.cancel == [("x", 1)]
    assert plan.run_status is RunStatus.FAILURE
    assert statuses(state) == {"a": FAILURE, "x": ABORTED}


# -- retries ---------------------------------------------------------------------------


@pytest.mark.parametrize("backoff", [0.5, 2.0])
@pytest.mark.parametrize("n", [1, 2, 3])
def test_failed_attempt_with_retries_left_is_retried_after_backoff(n: int, backoff: float) -> None:
    state = run({"a": [], "b": ["a"]}, retries=3, backoff=backoff)
    start(state)
    for attempt in range(1, n):
        run_step(state, "a", FAILURE)
        assert retry_due(state, "a", attempt + 1).dispatch == [("a", attempt + 1)]
    assert state.steps["a"].attempt == n

    grant(state, "a", "runner-r")
    plan = end(state, "a", FAILURE, 1, "flaky", ("out.txt",))

    assert plan.changes == [
        StepChange("a", FAILURE, n, 1, "flaky", "runner-r", ("out.txt",)),
        StepChange("a", PENDING, n + 1),
    ]
    assert plan.retries == [Retry("a", n + 1, backoff * 2 ** (n - 1))]
    assert not (plan.dispatch or plan.cancel)
    assert plan.run_status is None
    step = state.steps["a"]
    assert (step.status, step.attempt, step.dispatched, step.retry_wait) == (
        PENDING,
        n + 1,
        False,
        True,
    )
    assert state.steps["b"].status is PENDING  # not aborted: a may still succeed
    assert state.status is RunStatus.STARTED

    # Not claimable before it is due.
    decision, claim_plan = claim(state, "a", n + 1, "runner-r", False)
    assert not decision.granted and claim_plan.empty

    plan = retry_due(state, "a", n + 1)
    assert plan.dispatch == [("a", n + 1)]
    assert not (plan.changes or plan.retries or plan.cancel)
    assert state.steps["a"].dispatched and not state.steps["a"].retry_wait

    # Attempt n+1 succeeds: the run succeeds, the failed attempts do not count.
    assert run_step(state, "a").dispatch == [("b", 1)]
    assert run_step(state, "b").run_status is RunStatus.SUCCESS


@pytest.mark.parametrize("retries", [0, 1, 2])
def test_the_last_retry_failing_fails_the_step_for_good(retries: int) -> None:
    state = run({"a": [], "b": ["a"]}, retries=retries)
    start(state)
    for attempt in range(1, retries + 1):
        plan = run_step(state, "a", FAILURE)
        assert plan.retries == [Retry("a", attempt + 1, 2.0 ** (attempt - 1))]
        retry_due(state, "a", attempt + 1)

    plan = run_step(state, "a", FAILURE)

    assert plan.retries == []
    assert [(c.step_uuid, c.status, c.attempt) for c in plan.changes] == [
        ("a", FAILURE, retries + 1),
        ("b", ABORTED, 0),
    ]
    assert plan.run_status is RunStatus.FAILURE
    assert state.steps["a"].retry_wait is False


def test_success_and_aborted_ends_are_not_retried() -> None:
    state = run({"a": [], "b": []}, retries=3)
    start(state)
    assert run_step(state, "a", SUCCESS).retries == []
    plan = run_step(state, "b", ABORTED)
    assert plan.retries == []
    assert plan.changes[0].status is ABORTED


def _setup_aborted_while_retry_waits(state: RunState) -> None:
    _setup_retry_waits(state)
    abort(state)


RETRY_DUE_NOOPS: list[tuple[str, Callable[[RunState], None], str, int]] = [
    ("stale-attempt", _setup_retry_waits, "a", 1),
    ("future-attempt", _setup_retry_waits, "a", 3),
    ("not-waiting", _setup_started, "a", 1),
    ("not-waiting-next", _setup_started, "a", 2),
    ("unknown-step", _setup_retry_waits, "nope", 2),
    ("run-ended", _setup_ended, "a", 1),
    ("run-aborted-while-waiting", _setup_aborted_while_retry_waits, "a", 2),
]


@pytest.mark.parametrize(
    ("setup", "step", "attempt"),
    [c[1:] for c in RETRY_DUE_NOOPS],
    ids=[c[0] for c in RETRY_DUE_NOOPS],
)
def test_retry_due_that_does_not_apply_does_nothing(
    setup: Callable[[RunState], None], step: str, attempt: int
) -> None:
    state = run(DIAMOND, retries=1)
    setup(state)
    unchanged(state, lambda s: retry_due(s, step, attempt))


def test_retry_due_twice_dispatches_once() -> None:
    state = run(DIAMOND, retries=1)
    _setup_retry_waits(state)
    assert retry_due(state, "a", 2).dispatch == [("a", 2)]
    unchanged(state, lambda s: retry_due(s, "a", 2))


def test_a_waiting_retry_frees_its_slot() -> None:
    state = run({"a": [], "b": [], "c": []}, retries={"a": 1}, max_parallel=1)
    assert start(state).dispatch == [("a", 1)]

    plan = run_step(state, "a", FAILURE)
    assert plan.retries == [Retry("a", 2, 1.0)]
    assert plan.dispatch == [("b", 1)]  # in the same plan: a holds no slot while waiting

    # Due while b holds the one slot: a waits for it.
    assert retry_due(state, "a", 2).dispatch == []
    assert state.steps["a"].retry_wait is False
    assert state.steps["a"].dispatched is False

    # b ends: a (earlier in the order than c) gets the slot.
    assert run_step(state, "b").dispatch == [("a", 2)]
    assert run_step(state, "a").dispatch == [("c", 1)]
    assert run_step(state, "c").run_status is RunStatus.SUCCESS


def test_abort_aborts_a_waiting_retry() -> None:
    state = run({"a": [], "x": [], "y": ["x"]}, retries={"y": 2})
    start(state)
    run_step(state, "a")
    run_step(state, "x")
    run_step(state, "y", FAILURE)
    assert state.steps["y"].retry_wait
    plan = abort(state)
    assert [(c.step_uuid, c.status, c.attempt) for c in plan.changes] == [("y", ABORTED, 2)]
    assert plan.cancel == []
    assert state.steps["y"].retry_wait is False
    unchanged(state, lambda s: retry_due(s, "y", 2))


# -- abort -----------------------------------------------------------------------------

ABORT_GRAPH: Graph = {"s": [], "a": ["s"], "b": ["a"], "c": ["s"], "e": ["s"]}


def test_abort_aborts_every_unfinished_step_and_cancels_the_running_ones() -> None:
    state = run(ABORT_GRAPH)
    start(state)
    run_step(state, "s")
    grant(state, "a", "runner-a")
    grant(state, "e", "runner-e")
    end(state, "e")  # e is done: it stays SUCCESS; c is dispatched, unclaimed

    plan = abort(state)

    assert plan.changes == [
        StepChange("a", ABORTED, 1, error=ABORT_ERROR, runner_id="runner-a"),
        StepChange("b", ABORTED, 0, error=ABORT_ERROR),
        StepChange("c", ABORTED, 1, error=ABORT_ERROR),
    ]
    assert plan.cancel == [("a", 1)]
    assert plan.run_status is RunStatus.ABORTED
    assert not (plan.dispatch or plan.retries)
    assert state.status is RunStatus.ABORTED
    assert state.abort_requested
    assert statuses(state) == {
        "s": SUCCESS,
        "a": ABORTED,
        "b": ABORTED,
        "c": ABORTED,
        "e": SUCCESS,
    }


def test_abort_of_a_run_that_has_not_started() -> None:
    state = run(DIAMOND)
    start(state)
    plan = abort(state)
    assert plan.run_status is RunStatus.ABORTED
    assert plan.cancel == []
    assert [(c.step_uuid, c.attempt) for c in plan.changes] == [
        ("a", 1),
        ("b", 0),
        ("c", 0),
        ("d", 0),
    ]
    assert statuses(state) == dict.fromkeys(DIAMOND, ABORTED)


@pytest.mark.parametrize("status", [SUCCESS, FAILURE, ABORTED])
def test_report_of_an_aborted_step_changes_nothing(status: StepStatus) -> None:
    state = run(ABORT_GRAPH)
    start(state)
    grant(state, "s")
    abort(state)
    unchanged(state, lambda s: finish(s, "s", 1, status, 0, None))


def test_abort_twice_is_idempotent() -> None:
    state = run(ABORT_GRAPH)
    start(state)
    grant(state, "s")
    first = abort(state)
    assert not first.empty
    unchanged(state, abort)


def _finish(step: str, attempt: int, status: StepStatus, state: RunState) -> Plan:
    return finish(state, step, attempt, status, 0, None)


def _retry_due(step: str, attempt: int, state: RunState) -> Plan:
    return retry_due(state, step, attempt)


def _ended_success(state: RunState) -> None:
    start(state)
    for step in state.steps:
        run_step(state, step)


def _ended_failure(state: RunState) -> None:
    start(state)
    run_step(state, "a", FAILURE)


def _ended_failure_retried(state: RunState) -> None:
    state.steps["a"].max_retries = 1
    start(state)
    run_step(state, "a", FAILURE)
    retry_due(state, "a", 2)
    run_step(state, "a", FAILURE)


def _ended_fail_fast(state: RunState) -> None:
    state.fail_fast = True
    start(state)
    run_step(state, "a")
    grant(state, "c")
    run_step(state, "b", FAILURE)


def _ended_aborted(state: RunState) -> None:
    start(state)
    grant(state, "a")
    abort(state)


ENDINGS: list[tuple[str, Callable[[RunState], None], RunStatus]] = [
    ("success", _ended_success, RunStatus.SUCCESS),
    ("failure", _ended_failure, RunStatus.FAILURE),
    ("failure-after-retry", _ended_failure_retried, RunStatus.FAILURE),
    ("fail-fast", _ended_fail_fast, RunStatus.FAILURE),
    ("aborted", _ended_aborted, RunStatus.ABORTED),
]


@pytest.mark.parametrize(
    ("setup", "expected"), [e[1:] for e in ENDINGS], ids=[e[0] for e in ENDINGS]
)
def test_end_states_never_change(setup: Callable[[RunState], None], expected: RunStatus) -> None:
    state = run(DIAMOND)
    setup(state)
    assert state.status is expected
    assert all(s.status.is_final for s in state.steps.values())

    unchanged(state, abort)
    for uuid, step in state.steps.items():
        for attempt in sorted({0, 1, step.attempt, step.attempt + 1}):
            for status in (SUCCESS, FAILURE, ABORTED):
                unchanged(state, functools.partial(_finish, uuid, attempt, status))
            unchanged(state, functools.partial(_retry_due, uuid, attempt))
            for redelivered in (False, True):
                before = copy.deepcopy(state)
                decision, plan = claim(state, uuid, attempt, "runner-late", redelivered)
                assert not decision.granted
                assert plan.empty
                assert state == before
    assert state.status is expected


# -- the run's status (docs/runs.md#states) -------------------------------------------


@pytest.mark.parametrize(
    ("step_statuses", "abort_requested", "expected"),
    [
        ([SUCCESS, SUCCESS], False, RunStatus.SUCCESS),
        ([SUCCESS], False, RunStatus.SUCCESS),
        ([FAILURE, ABORTED, ABORTED], False, RunStatus.FAILURE),
        ([SUCCESS, FAILURE, SUCCESS], False, RunStatus.FAILURE),
        ([ABORTED, FAILURE], False, RunStatus.FAILURE),
        ([SUCCESS, ABORTED], True, RunStatus.ABORTED),
        ([FAILURE, ABORTED], True, RunStatus.ABORTED),
        ([ABORTED, ABORTED], True, RunStatus.ABORTED),
    ],
)
def test_run_status_when_done(
    step_statuses: list[StepStatus], abort_requested: bool, expected: RunStatus
) -> None:
    state = run({f"s{i}": [] for i in range(len(step_statuses))})
    for step, status in zip(state.steps.values(), step_statuses, strict=True):
        step.status = status
    state.abort_requested = abort_requested
    assert run_status_when_done(state) is expected


def test_a_failure_outranks_the_aborts_it_caused() -> None:
    state = run({"a": [], "b": ["a"], "c": ["b"], "d": ["c"]})
    start(state)
    plan = run_step(state, "a", FAILURE)
    assert [c.status for c in plan.changes] == [FAILURE, ABORTED, ABORTED, ABORTED]
    assert plan.run_status is RunStatus.FAILURE


def test_abort_after_a_failure_makes_the_run_aborted() -> None:
    state = run({"a": [], "x": []})
    start(state)
    grant(state, "x")
    run_step(state, "a", FAILURE)
    plan = abort(state)
    assert plan.run_status is RunStatus.ABORTED
    assert plan.cancel == [("x", 1)]
    assert statuses(state) == {"a": FAILURE, "x": ABORTED}


def test_a_step_reported_aborted_outside_an_abort_does_not_strand_the_run() -> None:
    state = run({"a": [], "b": ["a"]})
    start(state)
    run_step(state, "a", ABORTED)
    assert state.steps["b"].status.is_final
    assert state.status.is_final


# -- Plan ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plan", "empty"),
    [
        (Plan(), True),
        (Plan(changes=[StepChange("a", PENDING, 0)]), False),
        (Plan(run_status=RunStatus.PENDING), False),
        (Plan(run_status=RunStatus.ABORTED), False),
        (Plan(dispatch=[("a", 1)]), False),
        (Plan(retries=[Retry("a", 2, 0.0)]), False),
        (Plan(cancel=[("a", 1)]), False),
    ],
    ids=["nothing", "changes", "run-pending", "run-aborted", "dispatch", "retries", "cancel"],
)
def test_plan_empty(plan: Plan, empty: bool) -> None:
    assert plan.empty is empty


# -- a scheduler's whole life, in random order ------------------------------------------


@dataclass
class Sim:
    """Drives a run like the scheduler and its runners would, in a random order."""

    state: RunState
    rng: random.Random
    fail_rate: float
    queued: list[tuple[str, int]] = field(default_factory=list)
    running: list[tuple[str, int]] = field(default_factory=list)
    waiting: list[tuple[str, int]] = field(default_factory=list)
    run_statuses: list[RunStatus] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)
    aborted: bool = False

    def apply(self, plan: Plan) -> None:
        state = self.state
        for step, attempt in plan.dispatch:
            # A step is dispatched only when all its parents succeeded.
            assert all(state.steps[p].status is SUCCESS for p in state.steps[step].parents)
            assert state.steps[step].attempt == attempt >= 1
        self.queued += plan.dispatch
        self.waiting += [(r.step_uuid, r.attempt) for r in plan.retries]
        self.running = [w for w in self.running if w not in plan.cancel]
        if plan.run_status is not None:
            self.run_statuses.append(plan.run_status)
        for change in plan.changes:
            assert state.steps[change.step_uuid].attempt >= change.attempt
        if state.max_parallel:
            in_flight = sum(1 for s in state.steps.values() if s.in_flight)
            assert in_flight <= state.max_parallel
        queued = sum(1 for s in state.steps.values() if s.status is PENDING and s.dispatched)
        assert state.queued == queued
        assert not state.max_queued or queued <= state.max_queued

    def step(self) -> None:
        rng = self.rng
        choices = []
        if self.queued:
            choices.append("claim")
        if self.running:
            choices.append("finish")
        if self.waiting:
            choices.append("retry")
        assert choices, f"stuck: {self.state}"
        action = rng.choice(choices)
        if not self.aborted and rng.random() < 0.02:
            self.aborted = True
            self.apply(abort(self.state))
            return
        if action == "claim":
            step, attempt = self.queued.pop(rng.randrange(len(self.queued)))
            decision, plan = claim(self.state, step, attempt, f"runner-{step}", False)
            assert decision.granted is (self.state.steps[step].status is STARTED)
            if decision.granted:
                self.running.append((step, attempt))
            self.apply(plan)
        elif action == "finish":
            step, attempt = self.running.pop(rng.randrange(len(self.running)))
            status = FAILURE if rng.random() < self.fail_rate else SUCCESS
            if status is FAILURE:
                self.failures[step] = self.failures.get(step, 0) + 1
            plan = finish(self.state, step, attempt, status, int(status is FAILURE), None)
            if rng.random() < 0.5:  # the runner kept its slot: it may be handed a step
                handed = hand_off(self.state, plan, "runner-kept", 1.0)
                if handed is not None:
                    assert self.state.steps[handed[0]].status is STARTED
                    self.running.append(handed)
            self.apply(plan)
        else:
            step, attempt = self.waiting.pop(rng.randrange(len(self.waiting)))
            self.apply(retry_due(self.state, step, attempt))


@pytest.mark.parametrize("seed", range(200))
def test_random_runs_always_end_by_the_rules(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randint(1, 12)
    names = [f"s{i}" for i in range(n)]
    graph = {name: [p for p in names[:i] if rng.random() < 0.35] for i, name in enumerate(names)}
    retries = {name: rng.randint(0, 2) for name in names}
    state = run(
        graph,
        retries=retries,
        backoff=0.25,
        fail_fast=rng.random() < 0.3,
        max_parallel=rng.choice([0, 0, 1, 2, 3]),
        max_queued=rng.choice([0, 1, 2, 32]),
    )
    sim = Sim(state, rng, fail_rate=rng.choice([0.0, 0.2, 0.5]))
    sim.apply(start(state))
    for _ in range(1000):
        if state.status.is_final:
            break
        sim.step()

    assert state.status.is_final
    assert all(s.status.is_final for s in state.steps.values())
    # The run's status was announced in order, each at most once.
    assert sim.run_statuses in ([RunStatus.ABORTED], [RunStatus.STARTED, state.status])
    # As docs/runs.md#states says.
    if sim.aborted:
        assert state.status is RunStatus.ABORTED
    elif any(s.status is FAILURE for s in state.steps.values()):
        assert state.status is RunStatus.FAILURE
    else:
        assert state.status is RunStatus.SUCCESS
        assert all(s.status is SUCCESS for s in state.steps.values())
    for name, step in state.steps.items():
        if step.status is FAILURE:
            # Failed for good only after every retry.
            assert sim.failures[name] == retries[name] + 1 == step.attempt
        if step.status is ABORTED and not sim.aborted and not state.fail_fast:
            # Aborted only because an ancestor failed.
            assert any(state.steps[p].status in (FAILURE, ABORTED) for p in step.parents)


def test_the_same_claim_again_is_granted_again_without_changes() -> None:
    # A runner whose claim answer was lost asks again: it holds the attempt.
    state = run({"a": []})
    start(state)
    first, _ = claim(state, "a", 1, "runner-1", False)
    again, plan = claim(state, "a", 1, "runner-1", False)
    assert first == again == ClaimDecision(True, 1)
    assert plan.empty
    assert claim(state, "a", 1, "runner-2", False)[0].granted is False


# -- lapsed leases (the scheduler's lease sweep) ----------------------------------------


def test_a_lapsed_lease_dispatches_the_next_attempt_as_new_work() -> None:
    state = run({"a": [], "b": ["a"]})
    start(state)
    grant(state, "a", "runner-1")

    plan = lease_lapsed(state, "a", 1)

    assert plan.cancel == [("a", 1)]  # in case its runner is alive but cut off
    assert [(c.step_uuid, c.status, c.attempt) for c in plan.changes] == [("a", PENDING, 2)]
    assert plan.changes[0].error == "attempt 1 lost its runner (no heartbeat within its lease)"
    assert plan.dispatch == [("a", 2)]
    assert plan.run_status is None and plan.retries == []
    step = state.steps["a"]
    assert (step.status, step.attempt, step.lost_leases, step.runner_id, step.work_attempt) == (
        PENDING,
        2,
        1,
        None,
        2,
    )
    # The new work is claimed as attempt 2; the lost runner's report changes nothing.
    assert grant(state, "a", "runner-2").changes == [
        StepChange("a", STARTED, 2, runner_id="runner-2")
    ]
    unchanged(state, lambda s: finish(s, "a", 1, SUCCESS, 0, None))
    assert end(state, "a").dispatch == [("b", 1)]


@pytest.mark.parametrize("claimed", [False, True])
def test_a_lost_attempt_counts_once_whichever_path_sees_it_first(claimed: bool) -> None:
    state = run({"a": []}, max_lost_leases=5)
    start(state)
    grant(state, "a", "runner-1")
    if claimed:  # JetStream redelivered the work first: granted as attempt 2
        assert claim(state, "a", 1, "runner-2", True)[0] == ClaimDecision(True, 2)
        unchanged(state, lambda s: lease_lapsed(s, "a", 1))  # the sweep comes second
    else:  # the sweep first: new work for attempt 2; the old message is stale
        lease_lapsed(state, "a", 1)
        before = copy.deepcopy(state)
        decision, plan = claim(state, "a", 1, "runner-2", True)
        assert decision == ClaimDecision(False, 1, "attempt 1 is stale (now 2)")
        assert plan.empty and state == before
        grant(state, "a", "runner-3")
    assert state.steps["a"].lost_leases == 1
    assert state.steps["a"].attempt == 2
    assert state.steps["a"].status is STARTED


@pytest.mark.parametrize("limit", [1, 3])
def test_lapsed_leases_fail_the_step_after_max_lost_leases(limit: int) -> None:
    state = run({"a": [], "b": ["a"]}, retries=2, max_lost_leases=limit)
    start(state)
    for attempt in range(1, limit):
        grant(state, "a", f"runner-{attempt}")
        assert lease_lapsed(state, "a", attempt).dispatch == [("a", attempt + 1)]
    grant(state, "a", "runner-last")

    plan = lease_lapsed(state, "a", limit)

    assert plan.cancel == [("a", limit)]
    assert [(c.step_uuid, c.status, c.attempt) for c in plan.changes] == [
        ("a", FAILURE, limit),
        ("b", ABORTED, 0),
    ]
    assert plan.changes[0].error == lost_lease_error(limit)
    assert plan.retries == [] and plan.dispatch == []  # retries are not for lost runners
    assert plan.run_status is RunStatus.FAILURE


def test_lost_leases_of_both_paths_add_up_to_the_limit() -> None:
    state = run({"a": []}, max_lost_leases=3)
    start(state)
    grant(state, "a", "runner-1")
    lease_lapsed(state, "a", 1)  # sweep: attempt 2 is new work
    grant(state, "a", "runner-2")
    assert claim(state, "a", 2, "runner-3", True)[0] == ClaimDecision(True, 3)  # redelivery

    plan = lease_lapsed(state, "a", 3)

    assert state.steps["a"].status is FAILURE
    assert plan.changes[0].error == lost_lease_error(3)


@pytest.mark.parametrize(
    "setup",
    [
        pytest.param(lambda s: None, id="pending"),
        pytest.param(lambda s: grant(s, "a"), id="other-attempt"),
        pytest.param(lambda s: run_step(s, "a"), id="ended"),
        pytest.param(lambda s: (grant(s, "a"), abort(s)), id="aborted"),
    ],
)
def test_a_lapsed_lease_that_does_not_apply_changes_nothing(
    setup: Callable[[RunState], object],
) -> None:
    state = run({"a": [], "b": ["a"]})
    start(state)
    setup(state)
    attempt = 2 if state.steps["a"].status is STARTED else 1
    unchanged(state, lambda s: lease_lapsed(s, "a", attempt))
    unchanged(state, lambda s: lease_lapsed(s, "nope", 1))


def test_a_lost_lease_does_not_use_up_retries() -> None:
    state = run({"a": []}, retries=1)
    start(state)
    grant(state, "a")
    lease_lapsed(state, "a", 1)
    grant(state, "a")
    plan = end(state, "a", FAILURE)
    assert plan.retries == [Retry("a", 3, 1.0)]  # its one retry is still there


def test_a_lapsed_lease_under_a_limit_takes_its_slot_back_first() -> None:
    state = run({"a": [], "b": [], "c": []}, max_parallel=2)
    assert steps_of(start(state)) == ["a", "b"]
    grant(state, "a")
    grant(state, "b")
    assert lease_lapsed(state, "a", 1).dispatch == [("a", 2)]  # before c, in order


# -- hand_off: the report's runner gets the step it made ready -------------------------


def test_hand_off_grants_the_first_step_made_ready_to_the_reporting_runner() -> None:
    state = run(DIAMOND)
    start(state)
    grant(state, "a", "r1")
    plan = end(state, "a")
    assert steps_of(plan) == ["b", "c"]
    assert hand_off(state, plan, "r1", 7.0) == ("b", 1)
    assert steps_of(plan) == ["c"]  # c still goes to the work queue
    assert plan.handed == [("b", 1)]
    assert plan.changes[-1] == StepChange("b", STARTED, 1, runner_id="r1")
    b = state.steps["b"]
    assert (b.status, b.runner_id, b.lease_seconds, b.attempt) == (STARTED, "r1", 7.0, 1)
    # The attempt is the runner's as if claimed: its report ends it, another
    # runner's claim of it (a stray message) is refused.
    assert not claim(state, "b", 1, "r2", True)[0].granted
    assert not claim(state, "b", 1, "r2", False)[0].granted
    end(state, "b")
    assert state.steps["b"].status is SUCCESS


@pytest.mark.parametrize("abort_first", [False, True])
def test_hand_off_grants_nothing_when_nothing_is_ready_or_the_run_is_aborted(
    abort_first: bool,
) -> None:
    state = run({"a": [], "b": ["a"], "c": []})
    start(state)
    grant(state, "a")
    grant(state, "c")
    plan = end(state, "c")  # b still waits for a
    assert hand_off(state, plan, "r1", 7.0) is None
    assert plan.handed == []
    if abort_first:
        abort(state)
        plan = end(state, "a", ABORTED)
        assert hand_off(state, plan, "r1", 7.0) is None
        assert state.steps["b"].status is ABORTED


def test_hand_off_keeps_max_parallel() -> None:
    state = run({"a": [], "b": [], "c": ["a"], "d": ["a"]}, max_parallel=2)
    start(state)
    grant(state, "a")
    grant(state, "b")
    plan = end(state, "a")  # one slot of the two is free: c, not d
    assert steps_of(plan) == ["c"]
    assert hand_off(state, plan, "r1", 7.0) == ("c", 1)
    assert steps_of(plan) == []
    plan = end(state, "b")
    assert steps_of(plan) == ["d"]


def test_a_handed_attempt_whose_lease_lapsed_runs_again_from_the_queue() -> None:
    state = run({"a": [], "b": ["a"]})
    start(state)
    grant(state, "a", "r1")
    plan = end(state, "a")
    hand_off(state, plan, "r1", 7.0)
    plan = lease_lapsed(state, "b", 1)
    assert plan.cancel == [("b", 1)]
    assert plan.dispatch == [("b", 2)]  # new work: no message of attempt 1 exists
    assert state.steps["b"].lost_leases == 1
    assert not claim(state, "b", 1, "r2", True)[0].granted  # attempt 1 is stale
    assert claim(state, "b", 2, "r2", False)[0] == ClaimDecision(True, 2)


def test_at_most_max_queued_attempts_wait_in_the_queue_the_rest_flow_by_hand_offs() -> None:
    graph = {f"s{i:02d}": [] for i in range(12)}
    state = run(graph, max_queued=3)
    plan = start(state)
    assert steps_of(plan) == ["s00", "s01", "s02"]  # the others are held
    assert list(state.held) == [f"s{i:02d}" for i in range(3, 12)]
    decision, plan = claim(state, "s00", 1, "r1", False)
    assert decision.granted and steps_of(plan) == ["s03"]  # the queue's room refilled
    plan = end(state, "s00")
    assert steps_of(plan) == []
    assert hand_off(state, plan, "r1", 1.0) == ("s04", 1)  # a held step, handed over
    assert state.queued == 3  # s01, s02 and s03, queued when s00 was claimed
    ran = ["s00", "s04"]
    running = {"s04"}
    queue = ["s01", "s02", "s03"]
    while state.remaining:
        if running:
            step = running.pop()
            plan = end(state, step)
            handed = hand_off(state, plan, "r1", 1.0)
            queue += steps_of(plan)
            if handed is not None:
                running.add(handed[0])
                ran.append(handed[0])
        else:
            step = queue.pop(0)
            plan = grant(state, step, "r2")
            queue += steps_of(plan)
            running.add(step)
            ran.append(step)
        assert state.queued <= 3
    assert sorted(ran) == sorted(graph)  # each once
    assert state.status is RunStatus.SUCCESS


def test_a_held_step_is_queued_when_the_queue_drains_and_aborted_with_the_run() -> None:
    state = run({"a": [], "b": [], "c": []}, max_queued=1)
    start(state)
    _, plan = claim(state, "a", 1, "r1", False)
    assert steps_of(plan) == ["b"]
    plan = abort(state)
    assert plan.cancel == [("a", 1)]
    assert statuses(state) == {"a": ABORTED, "b": ABORTED, "c": ABORTED}
    assert state.queued == 0
    assert hand_off(state, plan, "r1", 1.0) is None


def test_a_report_asked_again_gets_the_attempt_its_first_answer_handed_over() -> None:
    state = run({"a": [], "b": ["a"]})
    start(state)
    grant(state, "a", "r1")
    plan = finish(state, "a", 1, SUCCESS, 0, None)
    assert hand_off(state, plan, "r1", 7.0, "report-a") == ("b", 1)
    again = finish(state, "a", 1, SUCCESS, 0, None)
    assert again.empty  # applied once
    assert handed_to(state, "report-a", "r1") == ("b", 1)
    assert handed_to(state, "report-a", "r2") is None  # not that runner's
    assert handed_to(state, "report-x", "r1") is None
    end(state, "b")
    assert handed_to(state, "report-a", "r1") is None  # it ended: nothing to run


def test_a_handed_attempt_lost_and_claimed_again_is_no_longer_the_reports() -> None:
    # b, handed to r1 by a's report, lost its lease; its next attempt is
    # claimed from the queue, by r1 again: a's report asked again (late) must
    # not hand r1 the attempt it already runs from its claim.
    state = run({"a": [], "b": ["a"]})
    start(state)
    grant(state, "a", "r1")
    plan = finish(state, "a", 1, SUCCESS, 0, None)
    assert hand_off(state, plan, "r1", 7.0, "report-a") == ("b", 1)
    lease_lapsed(state, "b", 1)
    decision, _ = claim(state, "b", 2, "r1", False)
    assert decision.granted
    assert handed_to(state, "report-a", "r1") is None


def test_a_hand_off_given_up_by_its_runner_is_dispatched_again_and_counted_once() -> None:
    # a's report came on REPORTS after its request had handed b to r1: r1 gave
    # up on the answer and never runs b's attempt 1.
    state = run({"a": [], "b": ["a"]}, max_lost_leases=2)
    start(state)
    grant(state, "a", "r1")
    plan = finish(state, "a", 1, SUCCESS, 0, None)
    assert hand_off(state, plan, "r1", 7.0, "report-a") == ("b", 1)
    assert hand_back(state, "report-a", "r2").empty  # not that runner's hand-off
    assert hand_back(state, "report-x", "r1").empty
    plan = hand_back(state, "report-a", "r1")
    assert plan.cancel == [("b", 1)]
    assert plan.dispatch == [("b", 2)]
    assert statuses(state)["b"] is PENDING
    assert handed_to(state, "report-a", "r1") is None
    assert hand_back(state, "report-a", "r1").empty  # a redelivered copy: once
    assert lease_lapsed(state, "b", 1).empty  # and the sweep does not count it again
    assert state.steps["b"].lost_leases == 1


def test_a_hand_off_given_up_counts_toward_the_lost_leases_limit() -> None:
    state = run({"a": [], "b": ["a"]}, max_lost_leases=1)
    start(state)
    grant(state, "a", "r1")
    plan = finish(state, "a", 1, SUCCESS, 0, None)
    assert hand_off(state, plan, "r1", 7.0, "report-a") == ("b", 1)
    plan = hand_back(state, "report-a", "r1")
    assert plan.dispatch == []
    assert statuses(state)["b"] is FAILURE
    assert state.status is RunStatus.FAILURE
