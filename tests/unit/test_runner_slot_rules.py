"""The step runner's slot arithmetic (``orchest_step_runner.slots``): interactive
work first, job slots within their own limit, hand-backs before looks."""

from __future__ import annotations

import pytest

from orchest_schemas.status import Priority
from orchest_step_runner.slots import Slots

INTERACTIVE, JOB = Priority.INTERACTIVE, Priority.JOB


def slots_with(slots: int, job_slots: int, running: list[Priority]) -> Slots:
    state = Slots(slots, job_slots)
    for priority in running:
        state.take(priority)
    state.looked(state.freed_count)  # every freed slot looked at
    return state


@pytest.mark.parametrize(
    ("slots", "job_slots", "running", "interactive_free", "job_free"),
    [
        (4, 2, [], 4, 2),
        (4, 2, [JOB], 3, 1),
        (4, 2, [JOB, JOB], 2, 0),
        (4, 2, [INTERACTIVE, INTERACTIVE, INTERACTIVE], 1, 1),
        (4, 2, [INTERACTIVE] * 4, 0, 0),
        (2, 4, [], 2, 2),  # job slots beyond the slots count for nothing
        (1, 0, [], 1, 0),  # no job work at all
    ],
)
def test_free_slots_per_priority(
    slots: int, job_slots: int, running: list[Priority], interactive_free: int, job_free: int
) -> None:
    state = slots_with(slots, job_slots, running)
    assert state.free(INTERACTIVE) == interactive_free
    assert state.free(JOB) == job_free
    assert state.fits(INTERACTIVE) is (interactive_free > 0)
    assert state.fits(JOB) is (job_free > 0)


@pytest.mark.parametrize("freed", [1, 3])
def test_a_freed_slot_is_interactive_until_looked_at(freed: int) -> None:
    state = slots_with(4, 4, [JOB] * 4)
    for _ in range(freed):
        state.release(JOB)
    assert state.unlooked and not state.jobs_may_start
    assert state.fits(INTERACTIVE)
    assert not state.fits(JOB)  # job work that arrives now is handed back
    assert state.looked(state.freed_count)
    assert state.jobs_may_start and state.fits(JOB)


def test_a_look_sent_before_a_later_freed_slot_does_not_clear_it() -> None:
    state = slots_with(2, 2, [JOB, JOB])
    state.release(JOB)
    sent_at = state.freed_count
    state.release(JOB)  # freed while the look was out
    assert state.looked(sent_at)
    assert state.unlooked and not state.jobs_may_start
    assert not state.looked(sent_at)  # an older look's answer changes nothing
    assert state.looked(state.freed_count) and state.jobs_may_start


@pytest.mark.parametrize(
    ("job_slots", "running", "in_hand", "room"),
    [(3, [], 0, 3), (3, [], 2, 1), (3, [JOB], 2, 0), (3, [INTERACTIVE] * 4, 0, 0)],
)
def test_job_room_leaves_out_the_job_messages_in_hand(
    job_slots: int, running: list[Priority], in_hand: int, room: int
) -> None:
    state = slots_with(4, job_slots, running)
    state.jobs_in_hand = in_hand
    assert state.job_room() == room


def test_a_look_waits_for_the_interactive_hand_backs() -> None:
    state = Slots(1, 1)
    assert state.may_look
    state.interactive_handing_back += 1
    assert not state.may_look
    state.interactive_handing_back -= 1
    assert state.may_look


def test_release_frees_the_slot_of_its_priority() -> None:
    state = slots_with(3, 1, [INTERACTIVE, JOB])
    state.release(JOB)
    assert (state.running, state.running_jobs, state.freed_count) == (1, 0, 1)
    state.release(INTERACTIVE)
    assert (state.running, state.running_jobs, state.freed_count) == (0, 0, 2)
