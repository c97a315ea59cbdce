"""The write of a decision: one statement applies a plan to a run (its
status, its steps, its events, the outgoing messages), guarded by the run's
``version``: if another writer (another scheduler replica) changed the run
since it was read, nothing is written and the caller reloads and decides
again (``mailbox.py``).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from orchest_schemas.status import RunStatus, StepStatus

from .outbox_store import OutboxRow
from .run_state import Plan, RunState
from .run_store import EventRow, event_arrays, logged_and_sent, outbox_arrays, outbox_ids
from .sql import Connection, Query


class StepMode(enum.StrEnum):
    """Which of a step's times and outcome a new row stamps."""

    START = "start"
    """Started now: its lease runs from now."""
    FINAL = "final"
    """Ended now, with the outcome."""
    RESET = "reset"
    """A new attempt waits: times and outcome cleared."""
    KEEP = "keep"
    """Only scheduling fields changed."""


@dataclass(frozen=True)
class StepRow:
    """A step's new row; ``mode`` says which times and outcome to stamp."""

    step_uuid: str
    status: str
    attempt: int
    dispatched: bool
    retry_at: datetime | None
    runner_id: str | None
    lost_leases: int
    work_attempt: int
    lease_seconds: float
    """A ``start`` row's lease: it lapses this long after ``now`` unless renewed."""
    handed_by: str | None
    """A ``start`` row's: the report whose answer handed the attempt over."""
    mode: StepMode
    exit_code: int | None
    error: str | None
    artifacts: str


_ARRAYS = """:step_uuids::text[], :statuses::text[], :attempts::int[], :dispatched::bool[],
    :retry_at::timestamptz[], :runner_ids::text[], :lost_leases::int[], :modes::text[],
    :exit_codes::int[], :errors::text[], :artifacts::text[], :work_attempts::int[],
    :lease_seconds::float8[], :handed_by::text[]"""
_COLUMNS = """step_uuid, status, attempt, dispatched, retry_at, runner_id, lost_leases, mode,
    exit_code, error, artifacts, work_attempt, lease_seconds, handed_by"""

_NEW_ROWS_FEW = f"unnest({_ARRAYS})\n    AS u({_COLUMNS})"
"""The new rows of a few steps: Postgres takes an ``unnest`` of arrays it
does not see (the plan it caches) for 10 rows and the steps found by their
keys for 1, so it loops over the steps and scans the new rows for each: as
cheap as anything for a few, each step matched against every new row for
many (870 rows discarded at 30 steps, 2.56 million at 1600)."""

_NEW_ROWS_MANY = (
    "ROWS FROM ("
    + ", ".join(f"unnest({array.strip()})" for array in _ARRAYS.split(","))
    + ",\n    generate_series(1, (SELECT cardinality(:step_uuids::text[]))))"
    + f"\n    AS u({_COLUMNS}, n)"
)
"""The new rows of many steps: the same arrays beside a series as long as they
are, which Postgres takes for 1000 rows in every plan (a sub-select's value
is not known when planning), so it hashes the steps found by their keys and
matches each new row with its step once."""

SMALL_WRITE = 8
"""A decision of up to this many steps takes ``_NEW_ROWS_FEW``, a larger one
``_NEW_ROWS_MANY``: two prepared statements, each with a plan of its own."""


def _write_plan(new_rows: str) -> Query:
    """The decision's statement, the steps' new rows from ``new_rows``.

    The steps are found by their whole key (the run's uuid given, their
    uuids as an array): joined on the run's uuid from the ``run`` part,
    Postgres read every step of the run and matched them against the new
    rows, so a decision cost as much as its run had steps. ``EXISTS (SELECT 1
    FROM run)`` keeps the version guard: no step is written unless the run's
    row was."""
    return Query(f"""
WITH run AS (
    UPDATE runs SET version = version + 1, event_seq = :event_seq,
        abort_requested = :abort_requested,
        status = COALESCE(:run_status, status),
        started_time = CASE WHEN :run_status = 'STARTED' THEN :now ELSE started_time END,
        finished_time = CASE WHEN :run_status IN ('SUCCESS', 'FAILURE', 'ABORTED') THEN :now
            ELSE finished_time END
    WHERE uuid = :run_uuid AND version = :expected_version
    RETURNING uuid
), steps AS (
    UPDATE run_steps AS s SET status = u.status, attempt = u.attempt,
        dispatched = u.dispatched, retry_at = u.retry_at, runner_id = u.runner_id,
        lost_leases = u.lost_leases, work_attempt = u.work_attempt,
        lease_seconds = CASE u.mode WHEN 'start' THEN u.lease_seconds ELSE s.lease_seconds END,
        handed_by = CASE u.mode WHEN 'start' THEN u.handed_by WHEN 'keep' THEN s.handed_by
            ELSE NULL END,
        lease_expires_at = CASE u.mode
            WHEN 'start' THEN :now::timestamptz + u.lease_seconds * interval '1 second'
            WHEN 'keep' THEN s.lease_expires_at ELSE NULL END,
        started_time = CASE u.mode WHEN 'start' THEN :now WHEN 'reset' THEN NULL
            ELSE s.started_time END,
        finished_time = CASE u.mode WHEN 'final' THEN :now WHEN 'keep' THEN s.finished_time
            ELSE NULL END,
        exit_code = CASE u.mode WHEN 'final' THEN u.exit_code WHEN 'keep' THEN s.exit_code
            ELSE NULL END,
        error = CASE u.mode WHEN 'final' THEN u.error WHEN 'keep' THEN s.error ELSE NULL END,
        artifacts = CASE u.mode WHEN 'keep' THEN s.artifacts ELSE u.artifacts::jsonb END
    FROM {new_rows}
    WHERE s.run_uuid = :run_uuid::uuid AND s.step_uuid = ANY(:step_uuids::text[])
        AND s.step_uuid = u.step_uuid AND EXISTS (SELECT 1 FROM run)
    RETURNING 1
), {logged_and_sent(reports=True)}
SELECT EXISTS (SELECT 1 FROM run) AS applied, ARRAY(SELECT id FROM out ORDER BY id) AS ids
""")


_WRITE_PLAN = _write_plan(_NEW_ROWS_FEW)
"""Its answer: whether it wrote the run, and the outbox row's id (none without
messages). Nothing else is read back: the steps and events it wrote are the
ones it was given (a part of a statement that modifies rows runs to its end
whether or not anything reads it)."""
_WRITE_PLAN_MANY = _write_plan(_NEW_ROWS_MANY)


async def write_plan(
    conn: Connection,
    *,
    run_uuid: str,
    expected_version: int,
    run_status: RunStatus | None,
    abort_requested: bool,
    event_seq: int,
    steps: Sequence[StepRow],
    events: Sequence[EventRow],
    outbox: Sequence[OutboxRow],
    now: datetime,
) -> list[int] | None:
    """Apply a decision; None when the run's version moved on (nothing written)."""
    query = _WRITE_PLAN if len(steps) <= SMALL_WRITE else _WRITE_PLAN_MANY
    row = await query.fetchrow(
        conn,
        run_uuid=run_uuid,
        expected_version=expected_version,
        event_seq=event_seq,
        abort_requested=abort_requested,
        run_status=run_status.value if run_status is not None else None,
        now=now,
        step_uuids=[s.step_uuid for s in steps],
        statuses=[s.status for s in steps],
        attempts=[s.attempt for s in steps],
        dispatched=[s.dispatched for s in steps],
        retry_at=[s.retry_at for s in steps],
        runner_ids=[s.runner_id for s in steps],
        lost_leases=[s.lost_leases for s in steps],
        modes=[s.mode.value for s in steps],
        exit_codes=[s.exit_code for s in steps],
        errors=[s.error for s in steps],
        artifacts=[s.artifacts for s in steps],
        work_attempts=[s.work_attempt for s in steps],
        lease_seconds=[s.lease_seconds for s in steps],
        handed_by=[s.handed_by for s in steps],
        **event_arrays(events),
        **outbox_arrays(outbox),
    )
    return outbox_ids(row, "applied", len(outbox))


def step_rows(state: RunState, plan: Plan, retry_at: dict[str, datetime]) -> list[StepRow]:
    """The new row of each step the plan touched; times and outcome from its last change."""
    last = {c.step_uuid: c for c in plan.changes}
    touched = dict.fromkeys([c.step_uuid for c in plan.changes] + [s for s, _ in plan.dispatch])
    rows = []
    for uuid in touched:
        step = state.steps[uuid]
        change = last.get(uuid)
        if change is None:
            mode = StepMode.KEEP
        elif change.status is StepStatus.STARTED:
            mode = StepMode.START
        elif change.status.is_final and step.status.is_final:
            mode = StepMode.FINAL
        else:
            mode = StepMode.RESET
        final = change if mode is StepMode.FINAL else None
        rows.append(
            StepRow(
                step_uuid=uuid,
                status=step.status.value,
                attempt=step.attempt,
                dispatched=step.dispatched,
                retry_at=retry_at.get(uuid) if step.retry_wait else None,
                runner_id=step.runner_id,
                lost_leases=step.lost_leases,
                work_attempt=step.work_attempt,
                lease_seconds=step.lease_seconds,
                handed_by=step.handed_by if mode is StepMode.START else None,
                mode=mode,
                exit_code=final.exit_code if final else None,
                error=final.error if final else None,
                artifacts=json.dumps(list(final.artifacts) if final else []),
            )
        )
    return rows
