"""The run_steps table's own statements: retries waiting for their time and
the leases of running attempts (renewed by heartbeats, lapsed ones swept).
A step's state itself changes only by a decision (``plan_store.write_plan``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from .sql import Connection


async def steps_waiting_retry(
    conn: Connection, due_by: datetime | None = None
) -> list[tuple[str, str, int, datetime]]:
    """Steps waiting for a retry (those due by ``due_by`` when given)."""
    rows = await conn.fetch(
        "SELECT run_uuid::text, step_uuid, attempt, retry_at FROM run_steps"
        " WHERE retry_at IS NOT NULL AND status = 'PENDING'"
        " AND ($1::timestamptz IS NULL OR retry_at <= $1) ORDER BY retry_at LIMIT 1000",
        due_by,
    )
    return [(r["run_uuid"], r["step_uuid"], r["attempt"], r["retry_at"]) for r in rows]


@dataclass(frozen=True)
class AttemptKey:
    run_uuid: str
    step_uuid: str
    attempt: int


async def renew_leases(
    conn: Connection,
    runner_id: str,
    attempts: Sequence[AttemptKey],
    lease_seconds: float,
    now: datetime,
) -> set[AttemptKey]:
    """A runner's heartbeat: renew the lease of each of its attempts that is
    still the running attempt of its step, in one statement; those renewed
    (the others ended, were superseded or their run was aborted)."""
    rows = await conn.fetch(
        "UPDATE run_steps AS s"
        " SET lease_expires_at = $5::timestamptz + $6::float8 * interval '1 second',"
        " lease_seconds = $6"
        " FROM unnest($2::uuid[], $3::text[], $4::int[]) AS u(run_uuid, step_uuid, attempt)"
        " WHERE s.run_uuid = u.run_uuid AND s.step_uuid = u.step_uuid"
        " AND s.attempt = u.attempt AND s.status = 'STARTED' AND s.runner_id = $1"
        " RETURNING s.run_uuid::text, s.step_uuid, s.attempt",
        runner_id,
        [a.run_uuid for a in attempts],
        [a.step_uuid for a in attempts],
        [a.attempt for a in attempts],
        now,
        lease_seconds,
    )
    return {AttemptKey(r["run_uuid"], r["step_uuid"], r["attempt"]) for r in rows}


RUNS_NOT_ENDED = "r.status IN ('PENDING', 'STARTED')"
"""The predicate of the index ``runs_unfinished``: the sweep's way in. A step
is ``STARTED`` only in a run that is (a run ends once all its steps have),
so the running attempts are among these runs' steps, found by ``run_steps``'
primary key; no index on ``run_steps`` holds a column that a decision or a
heartbeat changes, and their updates are HOT (no new index entries)."""


async def lapsed_leases(
    conn: Connection, now: datetime, calm_since: datetime, limit: int = 1000
) -> list[AttemptKey]:
    """Running attempts whose lease lapsed by ``now``, among those whose runner
    had a whole lease since ``calm_since`` to renew it (before then this
    scheduler may not have been able to take its heartbeats)."""
    rows = await conn.fetch(
        "SELECT s.run_uuid::text, s.step_uuid, s.attempt"
        " FROM runs AS r JOIN run_steps AS s ON s.run_uuid = r.uuid"
        f" WHERE {RUNS_NOT_ENDED} AND s.status = 'STARTED' AND s.lease_expires_at < $1"
        " AND $2::timestamptz + s.lease_seconds * interval '1 second' <= $1"
        " ORDER BY s.lease_expires_at LIMIT $3",
        now,
        calm_since,
        limit,
    )
    return [AttemptKey(r["run_uuid"], r["step_uuid"], r["attempt"]) for r in rows]
