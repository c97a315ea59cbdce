"""When a job's executions fire: now, once at a time, or on a cron schedule.

Cron expressions are the five-field kind (minute hour day-of-month month
day-of-week), read by ``croniter``, in UTC.

Missed ticks: when the scheduler finds a tick overdue (everything was down,
or the job was paused), it fires **one** execution for all the ticks it
missed, at once, and the next tick is the first one after now. A pipeline
that must account for every period reads its own time window; a week of
downtime never unleashes a thousand-run backlog.
"""

from __future__ import annotations

from datetime import UTC, datetime

from croniter import CroniterBadDateError, croniter

_PROBE = datetime(2000, 1, 1, tzinfo=UTC)


def cron_problem(expression: str) -> str | None:
    """Why the expression is not a valid cron schedule, or None."""
    if len(expression.split()) != 5:
        return "a cron schedule has five fields: minute hour day-of-month month day-of-week"
    if not croniter.is_valid(expression):
        return f"not a valid cron schedule: {expression!r}"
    try:
        next_tick(expression, _PROBE)
    except CroniterBadDateError:
        return f"the cron schedule {expression!r} never fires (no such date)"
    return None


def next_tick(expression: str, after: datetime) -> datetime:
    """The first tick of the schedule strictly after ``after``."""
    value: datetime = croniter(expression, after).get_next(datetime)
    return value


def next_ticks(expression: str, after: datetime, count: int) -> list[datetime]:
    """The first ``count`` ticks of the schedule strictly after ``after``."""
    ticks: list[datetime] = []
    for _ in range(count):
        after = next_tick(expression, after)
        ticks.append(after)
    return ticks
