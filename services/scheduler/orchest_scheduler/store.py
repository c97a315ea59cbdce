"""The scheduler's tables: every SQL statement it runs is here.

All writes of one decision happen in one transaction that holds the run's
row lock (``lock_run``), so concurrent reports of the same run (or another
scheduler replica) are applied one after the other.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from orchest_schemas.pipeline import PipelineDefinition
from orchest_schemas.runs import RunView, StepView
from orchest_schemas.status import RunStatus, RunType, StepStatus

from .engine import RunState, StepChange, StepState

Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy


@dataclass(frozen=True)
class NewStep:
    uuid: str
    title: str
    file_path: str
    position: int
    parents: tuple[str, ...]
    max_retries: int
    retry_backoff: float
    timeout_seconds: float | None


@dataclass(frozen=True)
class RunRecord:
    """What the scheduler needs of a run beyond its state."""

    uuid: str
    pipeline_uuid: str
    project_uuid: str | None
    job_uuid: str | None
    project_dir: str
    env_variables: dict[str, str]
    definition: PipelineDefinition
    event_seq: int
    version: int
    """Bumped by every transaction that changes the run: a cached state of
    the same version is current."""


async def find_run_by_key(conn: Connection, key: str) -> str | None:
    value = await conn.fetchval("SELECT uuid::text FROM runs WHERE idempotency_key = $1", key)
    return str(value) if value is not None else None


async def insert_run(
    conn: Connection,
    *,
    run_uuid: str,
    pipeline_uuid: str,
    project_uuid: str | None,
    job_uuid: str | None,
    run_type: RunType,
    definition: PipelineDefinition,
    project_dir: str,
    env_variables: dict[str, str],
    idempotency_key: str | None,
    steps: Sequence[NewStep],
) -> bool:
    """Insert the run and its steps; False if the idempotency key is taken."""
    inserted = await conn.fetchval(
        "INSERT INTO runs (uuid, pipeline_uuid, project_uuid, job_uuid, run_type, status,"
        " pipeline_definition, project_dir, env_variables, idempotency_key)"
        " VALUES ($1, $2, $3, $4, $5, 'PENDING', $6, $7, $8, $9)"
        " ON CONFLICT (idempotency_key) DO NOTHING RETURNING true",
        run_uuid,
        pipeline_uuid,
        project_uuid,
        job_uuid,
        run_type.value,
        definition.model_dump_json(exclude_unset=True),
        project_dir,
        json.dumps(env_variables),
        idempotency_key,
    )
    if not inserted:
        return False
    await conn.executemany(
        "INSERT INTO run_steps (run_uuid, step_uuid, title, file_path, position, parents,"
        " status, max_retries, retry_backoff, timeout_seconds)"
        " VALUES ($1, $2, $3, $4, $5, $6, 'PENDING', $7, $8, $9)",
        [
            (
                run_uuid,
                s.uuid,
                s.title,
                s.file_path,
                s.position,
                list(s.parents),
                s.max_retries,
                s.retry_backoff,
                s.timeout_seconds,
            )
            for s in steps
        ],
    )
    return True


async def lock_run(conn: Connection, run_uuid: str) -> tuple[RunRecord, RunStatus, bool] | None:
    """Lock the run's row for this transaction; None if there is no such run."""
    row = await conn.fetchrow(
        "SELECT uuid::text, pipeline_uuid, project_uuid, job_uuid::text, project_dir,"
        " env_variables, pipeline_definition, event_seq, version, status, abort_requested"
        " FROM runs WHERE uuid = $1 FOR UPDATE",
        run_uuid,
    )
    if row is None:
        return None
    record = RunRecord(
        uuid=row["uuid"],
        pipeline_uuid=row["pipeline_uuid"],
        project_uuid=row["project_uuid"],
        job_uuid=row["job_uuid"],
        project_dir=row["project_dir"],
        env_variables=json.loads(row["env_variables"]),
        definition=PipelineDefinition.model_validate_json(row["pipeline_definition"]),
        event_seq=row["event_seq"],
        version=row["version"],
    )
    return record, RunStatus(row["status"]), row["abort_requested"]


async def load_steps(
    conn: Connection, run_uuid: str
) -> tuple[dict[str, StepState], dict[str, float | None]]:
    rows = await conn.fetch(
        "SELECT step_uuid, parents, status, attempt, dispatched,"
        " retry_at IS NOT NULL AS retry_wait, max_retries, retry_backoff, runner_id,"
        " lost_leases, timeout_seconds"
        " FROM run_steps WHERE run_uuid = $1 ORDER BY position",
        run_uuid,
    )
    steps = {
        r["step_uuid"]: StepState(
            uuid=r["step_uuid"],
            parents=tuple(r["parents"]),
            status=StepStatus(r["status"]),
            attempt=r["attempt"],
            dispatched=r["dispatched"],
            retry_wait=r["retry_wait"],
            max_retries=r["max_retries"],
            retry_backoff=r["retry_backoff"],
            runner_id=r["runner_id"],
            lost_leases=r["lost_leases"],
        )
        for r in rows
    }
    return steps, {r["step_uuid"]: r["timeout_seconds"] for r in rows}


async def save_steps(
    conn: Connection,
    run_uuid: str,
    state: RunState,
    changed: Sequence[str],
    changes: Sequence[StepChange],
    retry_at: dict[str, datetime],
    now: datetime,
) -> None:
    """Write the state of the steps in ``changed``; times and outcomes from
    their last change: a start stamps ``started_time``, an end stamps
    ``finished_time`` with the outcome, a retry clears the previous attempt's."""
    last: dict[str, StepChange] = {c.step_uuid: c for c in changes}
    rows = []
    for uuid in dict.fromkeys(changed):
        step = state.steps[uuid]
        change = last.get(uuid)
        if change is None:
            mode = "keep"
        elif change.status is StepStatus.STARTED:
            mode = "start"
        elif change.status.is_final and step.status.is_final:
            mode = "final"
        else:
            mode = "reset"
        final = mode == "final" and change is not None
        rows.append(
            (
                run_uuid,
                uuid,
                step.status.value,
                step.attempt,
                step.dispatched,
                retry_at.get(uuid) if step.retry_wait else None,
                step.runner_id,
                step.lost_leases,
                mode,
                now,
                change.exit_code if final and change else None,
                change.error if final and change else None,
                json.dumps(list(change.artifacts) if final and change else []),
            )
        )
    await conn.executemany(
        "UPDATE run_steps SET status = $3, attempt = $4, dispatched = $5, retry_at = $6,"
        " runner_id = $7, lost_leases = $8,"
        " started_time = CASE $9 WHEN 'start' THEN $10 WHEN 'reset' THEN NULL"
        "  ELSE started_time END,"
        " finished_time = CASE $9 WHEN 'final' THEN $10 WHEN 'keep' THEN finished_time"
        "  ELSE NULL END,"
        " exit_code = CASE $9 WHEN 'final' THEN $11 WHEN 'keep' THEN exit_code ELSE NULL END,"
        " error = CASE $9 WHEN 'final' THEN $12 WHEN 'keep' THEN error ELSE NULL END,"
        " artifacts = CASE $9 WHEN 'keep' THEN artifacts ELSE $13::jsonb END"
        " WHERE run_uuid = $1 AND step_uuid = $2",
        rows,
    )


async def save_run(
    conn: Connection,
    run_uuid: str,
    status: RunStatus | None,
    abort_requested: bool,
    event_seq: int,
    now: datetime,
) -> None:
    await conn.execute(
        "UPDATE runs SET event_seq = $2, abort_requested = $3,"
        " status = COALESCE($4, status),"
        " started_time = CASE WHEN $4 = 'STARTED' THEN $5 ELSE started_time END,"
        " finished_time = CASE WHEN $4 IN ('SUCCESS', 'FAILURE', 'ABORTED') THEN $5"
        "  ELSE finished_time END"
        " WHERE uuid = $1",
        run_uuid,
        event_seq,
        abort_requested,
        status.value if status is not None else None,
        now,
    )


async def record_report(
    conn: Connection, report_id: str, run_uuid: str, occurred_at: datetime, payload: str
) -> bool:
    """Log a runner's report once; False when it was already applied."""
    inserted = await conn.fetchval(
        "INSERT INTO event_log (event_id, kind, run_uuid, occurred_at, payload)"
        " VALUES ($1, 'step_attempt_finished', $2, $3, $4)"
        " ON CONFLICT (event_id) DO NOTHING RETURNING true",
        report_id,
        run_uuid,
        occurred_at,
        payload,
    )
    return bool(inserted)


async def log_events(
    conn: Connection, rows: Sequence[tuple[str, str, str, int, datetime, str]]
) -> None:
    """(event_id, kind, run_uuid, sequence, occurred_at, payload)."""
    await conn.executemany(
        "INSERT INTO event_log (event_id, kind, run_uuid, sequence, occurred_at, payload)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING",
        rows,
    )


async def steps_waiting_retry(conn: Connection) -> list[tuple[str, str, int, datetime]]:
    rows = await conn.fetch(
        "SELECT run_uuid::text, step_uuid, attempt, retry_at FROM run_steps"
        " WHERE retry_at IS NOT NULL AND status = 'PENDING'"
    )
    return [(r["run_uuid"], r["step_uuid"], r["attempt"], r["retry_at"]) for r in rows]


def retry_times(retries: Sequence[tuple[str, float]], now: datetime) -> dict[str, datetime]:
    return {uuid: now + timedelta(seconds=delay) for uuid, delay in retries}


def utcnow() -> datetime:
    return datetime.now(UTC)


# -- reads (the gateway has its own, over the same tables) -------------------------


async def fetch_run_view(conn: Connection, run_uuid: str) -> RunView | None:
    run = await conn.fetchrow(
        "SELECT uuid::text, pipeline_uuid, project_uuid, job_uuid::text, run_type, status,"
        " created_time, started_time, finished_time FROM runs WHERE uuid = $1",
        run_uuid,
    )
    if run is None:
        return None
    steps = await conn.fetch(
        "SELECT run_uuid::text, step_uuid, title, file_path, status, attempt, started_time,"
        " finished_time, exit_code, error, artifacts FROM run_steps WHERE run_uuid = $1"
        " ORDER BY position",
        run_uuid,
    )
    return RunView(
        uuid=run["uuid"],
        pipeline_uuid=run["pipeline_uuid"],
        project_uuid=run["project_uuid"],
        job_uuid=run["job_uuid"],
        run_type=RunType(run["run_type"]),
        status=RunStatus(run["status"]),
        created_time=run["created_time"],
        started_time=run["started_time"],
        finished_time=run["finished_time"],
        pipeline_steps=[step_view(s) for s in steps],
    )


def step_view(row: Any) -> StepView:
    return StepView(
        run_uuid=row["run_uuid"],
        step_uuid=row["step_uuid"],
        title=row["title"],
        file_path=row["file_path"],
        status=StepStatus(row["status"]),
        attempt=row["attempt"],
        started_time=row["started_time"],
        finished_time=row["finished_time"],
        exit_code=row["exit_code"],
        error=row["error"],
        artifacts=json.loads(row["artifacts"]),
    )
