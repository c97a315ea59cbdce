"""When jobs fire: cron schedules and the manual clock that drives them in tests
(the other rules of jobs: ``test_job_rules.py``)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from orchest_scheduler.clock import ManualClock
from orchest_scheduler.schedule import cron_problem, next_tick, next_ticks


@pytest.mark.parametrize(
    ("expression", "valid"),
    [
        ("* * * * *", True),
        ("*/15 9-17 * * 1-5", True),
        ("0 0 1 1 *", True),
        ("61 * * * *", False),
        ("* * * *", False),
        ("* * * * * *", False),
        ("@hourly", False),
        ("every day", False),
        ("0 0 31 2 *", False),  # February 31st: it would never fire
    ],
)
def test_cron_expressions(expression: str, valid: bool) -> None:
    assert (cron_problem(expression) is None) is valid


def test_the_next_tick_is_strictly_after() -> None:
    at = datetime(2026, 1, 1, 9, 15, tzinfo=UTC)
    assert next_tick("*/15 * * * *", at) == datetime(2026, 1, 1, 9, 30, tzinfo=UTC)
    assert next_tick("0 0 * * *", at) == datetime(2026, 1, 2, tzinfo=UTC)


async def test_the_manual_clock_wakes_waiters_when_it_reaches_their_time() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    clock = ManualClock(start)
    wake = asyncio.Event()
    waiter = asyncio.create_task(clock.wait_until(start + timedelta(minutes=1), wake))
    await clock.advance(timedelta(seconds=30))
    for _ in range(5):  # let the waiter see the move
        await asyncio.sleep(0)  # wait-ok: turns of the loop, to show nothing happens
    assert not waiter.done()  # not yet its time
    await clock.advance(timedelta(seconds=30))
    await asyncio.wait_for(waiter, 1)
    other = asyncio.create_task(clock.wait_until(start + timedelta(hours=1), wake))
    wake.set()
    await asyncio.wait_for(other, 1)


def test_the_next_ticks_follow_one_another() -> None:
    at = datetime(2026, 1, 1, 9, 10, tzinfo=UTC)
    assert next_ticks("*/15 * * * *", at, 3) == [
        datetime(2026, 1, 1, 9, 15, tzinfo=UTC),
        datetime(2026, 1, 1, 9, 30, tzinfo=UTC),
        datetime(2026, 1, 1, 9, 45, tzinfo=UTC),
    ]
