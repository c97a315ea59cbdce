"""The supervisor's restart decision."""

from __future__ import annotations

import pytest

from orchest_cli.backoff import RestartPolicy

POLICY = RestartPolicy(initial_delay=0.2, max_delay=15.0, factor=2.0, stable_after=10.0)


@pytest.mark.parametrize(
    ("failures", "delay"),
    [(1, 0.2), (2, 0.4), (3, 0.8), (6, 6.4), (7, 12.8), (8, 15.0), (50, 15.0)],
)
def test_delay_doubles_up_to_the_cap(failures: int, delay: float) -> None:
    assert POLICY.delay(failures) == pytest.approx(delay)


def test_delay_needs_a_failure() -> None:
    with pytest.raises(ValueError):
        POLICY.delay(0)


@pytest.mark.parametrize(
    ("previous", "ran_for", "after"),
    [(0, 0.1, 1), (3, 0.1, 4), (3, 9.9, 4), (3, 10.0, 1), (7, 3600.0, 1)],
)
def test_a_process_that_ran_long_enough_starts_the_count_again(
    previous: int, ran_for: float, after: int
) -> None:
    assert POLICY.failures_after_exit(previous, ran_for) == after
