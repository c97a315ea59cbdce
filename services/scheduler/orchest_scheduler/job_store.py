"""The jobs table, and what the job scheduler asks of the runs table.

Every statement about jobs is here. Writes that must happen once however many
scheduler replicas run are made under a row lock (``load_job(lock=True)``
inside the caller's transaction) or an advisory lock (the admission).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from orchest_schemas.commands import ParameterSet
from orchest_schemas.pipeline import PipelineDefinition
from orchest_schemas.status import JobStatus, RunType

from .sql import Connection, Query

ADMISSION_LOCK = 0x6A6F6273  # "jobs": one admission at a time over all replicas
FINAL_RUN_STATES = ["SUCCESS", "FAILURE", "ABORTED"]
LIVE_JOB_STATES = frozenset({JobStatus.PENDING, JobStatus.STARTED})
"""States whose ticks fire and whose queued runs may start."""
ENDED_JOB_STATES = frozenset({JobStatus.SUCCESS, JobStatus.FAILURE, JobStatus.ABORTED})
_LIVE = [s.value for s in LIVE_JOB_STATES]


@dataclass
class JobRecord:
    uuid: str
    name: str
    pipeline_uuid: str
    project_uuid: str | None
    project_dir: str
    snapshot_dir: str
    definition: PipelineDefinition
    run_type: RunType
    run_uuids: list[str]
    parameters: list[ParameterSet]
    env_variables: dict[str, str]
    status: JobStatus
    scheduled_start: datetime | None
    cron_schedule: str | None
    next_scheduled_time: datetime | None
    last_scheduled_time: datetime | None
    total_scheduled_executions: int
    max_retained_pipeline_runs: int
    max_parallel_runs: int | None
    created_time: datetime
    finished_time: datetime | None = None
    run_counts: dict[str, int] = field(default_factory=dict)


_COLUMNS = (
    "uuid::text, name, pipeline_uuid, project_uuid, project_dir, snapshot_dir,"
    " pipeline_definition, run_type, run_uuids, parameters, env_variables, status,"
    " scheduled_start, cron_schedule, next_scheduled_time, last_scheduled_time,"
    " total_scheduled_executions, max_retained_pipeline_runs, max_parallel_runs,"
    " created_time, finished_time"
)


def _record(row: Any) -> JobRecord:
    return JobRecord(
        uuid=row["uuid"],
        name=row["name"],
        pipeline_uuid=row["pipeline_uuid"],
        project_uuid=row["project_uuid"],
        project_dir=row["project_dir"],
        snapshot_dir=row["snapshot_dir"],
        definition=PipelineDefinition.model_validate_json(row["pipeline_definition"]),
        run_type=RunType(row["run_type"]),
        run_uuids=list(row["run_uuids"]),
        parameters=json.loads(row["parameters"]),
        env_variables=json.loads(row["env_variables"]),
        status=JobStatus(row["status"]),
        scheduled_start=row["scheduled_start"],
        cron_schedule=row["cron_schedule"],
        next_scheduled_time=row["next_scheduled_time"],
        last_scheduled_time=row["last_scheduled_time"],
        total_scheduled_executions=row["total_scheduled_executions"],
        max_retained_pipeline_runs=row["max_retained_pipeline_runs"],
        max_parallel_runs=row["max_parallel_runs"],
        created_time=row["created_time"],
        finished_time=row["finished_time"],
    )


_INSERT_JOB = Query(
    "INSERT INTO jobs (uuid, name, pipeline_uuid, project_uuid, project_dir, snapshot_dir,"
    " pipeline_definition, run_type, run_uuids, parameters, env_variables, status,"
    " scheduled_start, cron_schedule, next_scheduled_time, max_retained_pipeline_runs,"
    " max_parallel_runs, idempotency_key, created_time)"
    " VALUES (:uuid, :name, :pipeline_uuid, :project_uuid, :project_dir, :snapshot_dir,"
    " :definition::jsonb, :run_type, :run_uuids, :parameters::jsonb, :env_variables::jsonb,"
    " :status, :scheduled_start, :cron_schedule, :next_scheduled_time,"
    " :max_retained_pipeline_runs, :max_parallel_runs, :idempotency_key, :created_time)"
    " ON CONFLICT (idempotency_key) DO NOTHING RETURNING true"
)


async def insert_job(conn: Connection, job: JobRecord, idempotency_key: str | None) -> bool:
    """False (nothing written) when the idempotency key is taken."""
    value = await _INSERT_JOB.fetchval(
        conn,
        uuid=job.uuid,
        pipeline_uuid=job.pipeline_uuid,
        project_uuid=job.project_uuid,
        project_dir=job.project_dir,
        snapshot_dir=job.snapshot_dir,
        definition=job.definition.model_dump_json(exclude_unset=True),
        run_type=job.run_type.value,
        run_uuids=job.run_uuids,
        idempotency_key=idempotency_key,
        created_time=job.created_time,
        **_changeable(job),
    )
    return bool(value)


_SAVE_JOB = Query(
    "UPDATE jobs SET name = :name, parameters = :parameters::jsonb,"
    " env_variables = :env_variables::jsonb, status = :status,"
    " scheduled_start = :scheduled_start, cron_schedule = :cron_schedule,"
    " next_scheduled_time = :next_scheduled_time, last_scheduled_time = :last_scheduled_time,"
    " total_scheduled_executions = :total_scheduled_executions,"
    " max_retained_pipeline_runs = :max_retained_pipeline_runs,"
    " max_parallel_runs = :max_parallel_runs, finished_time = :finished_time"
    " WHERE uuid = :uuid"
)


async def save_job(conn: Connection, job: JobRecord) -> None:
    """Write back what commands and ticks change."""
    await _SAVE_JOB.execute(
        conn,
        uuid=job.uuid,
        last_scheduled_time=job.last_scheduled_time,
        total_scheduled_executions=job.total_scheduled_executions,
        finished_time=job.finished_time,
        **_changeable(job),
    )


def _changeable(job: JobRecord) -> dict[str, Any]:
    """The columns a job is created with that commands may change later."""
    return {
        "name": job.name,
        "parameters": json.dumps(job.parameters),
        "env_variables": json.dumps(job.env_variables),
        "status": job.status.value,
        "scheduled_start": job.scheduled_start,
        "cron_schedule": job.cron_schedule,
        "next_scheduled_time": job.next_scheduled_time,
        "max_retained_pipeline_runs": job.max_retained_pipeline_runs,
        "max_parallel_runs": job.max_parallel_runs,
    }


async def find_job_by_key(conn: Connection, key: str) -> str | None:
    value = await conn.fetchval("SELECT uuid::text FROM jobs WHERE idempotency_key = $1", key)
    return str(value) if value is not None else None


async def load_job(conn: Connection, job_uuid: str, *, lock: bool = False) -> JobRecord | None:
    """The job (``lock``: and its row locked until the transaction ends)."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM jobs WHERE uuid = $1" + (" FOR UPDATE" if lock else ""),
        job_uuid,
    )
    if row is None:
        return None
    job = _record(row)
    rows = await conn.fetch(
        "SELECT status, count(*) AS n FROM runs WHERE job_uuid = $1 GROUP BY status", job_uuid
    )
    job.run_counts = {r["status"]: r["n"] for r in rows}
    return job


async def due_jobs(conn: Connection, now: datetime, limit: int = 100) -> list[tuple[str, datetime]]:
    rows = await conn.fetch(
        "SELECT uuid::text, next_scheduled_time FROM jobs"
        " WHERE next_scheduled_time <= $1 AND status = ANY($2::text[])"
        " ORDER BY next_scheduled_time LIMIT $3",
        now,
        _LIVE,
        limit,
    )
    return [(r["uuid"], r["next_scheduled_time"]) for r in rows]


async def earliest_due(conn: Connection) -> datetime | None:
    value: datetime | None = await conn.fetchval(
        "SELECT min(next_scheduled_time) FROM jobs WHERE status = ANY($1::text[])",
        _LIVE,
    )
    return value


async def insert_job_event(
    conn: Connection, event_id: str, kind: str, job_uuid: str, now: datetime, payload: str
) -> None:
    await conn.execute(
        "INSERT INTO event_log (event_id, kind, job_uuid, occurred_at, payload)"
        " VALUES ($1, $2, $3, $4, $5::jsonb)",
        event_id,
        kind,
        job_uuid,
        now,
        payload,
    )


# -- admission -----------------------------------------------------------------------


@dataclass(frozen=True)
class QueuedRun:
    run_uuid: str
    job_uuid: str
    job_limit: int | None
    project_dir: str
    snapshot_dir: str


def _queued(row: Any) -> QueuedRun:
    return QueuedRun(
        row["run_uuid"],
        row["job_uuid"],
        row["max_parallel_runs"],
        row["project_dir"],
        row["snapshot_dir"],
    )


async def lock_admission(conn: Connection) -> None:
    """Until the transaction ends, no other replica admits."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", ADMISSION_LOCK)


async def active_job_runs(conn: Connection) -> dict[str, int]:
    """Admitted, unfinished runs per job."""
    rows = await conn.fetch(
        "SELECT job_uuid::text, count(*) AS n FROM runs"
        " WHERE job_uuid IS NOT NULL AND admitted AND status IN ('PENDING', 'STARTED')"
        " GROUP BY job_uuid"
    )
    return {r["job_uuid"]: r["n"] for r in rows}


async def queued_job_runs(conn: Connection, per_job: int) -> list[QueuedRun]:
    """The next ``per_job`` waiting runs of each live job, in execution order."""
    rows = await conn.fetch(
        "SELECT q.uuid::text AS run_uuid, q.job_uuid::text, j.max_parallel_runs, q.project_dir,"
        " j.snapshot_dir FROM ("
        "   SELECT uuid, job_uuid, project_dir, row_number() OVER (PARTITION BY job_uuid"
        "     ORDER BY job_run_index, job_run_pipeline_run_index) AS place"
        "   FROM runs WHERE job_uuid IS NOT NULL AND NOT admitted AND status = 'PENDING'"
        " ) q JOIN jobs j ON j.uuid = q.job_uuid"
        " WHERE q.place <= $1 AND j.status = ANY($2::text[])"
        " ORDER BY q.job_uuid, q.place",
        per_job,
        _LIVE,
    )
    return [_queued(r) for r in rows]


async def mark_admitted(conn: Connection, run_uuids: list[str], now: datetime) -> None:
    await conn.execute(
        "UPDATE runs SET admitted = true, admitted_time = $2 WHERE uuid = ANY($1::uuid[])",
        run_uuids,
        now,
    )


async def admitted_not_started(conn: Connection, before: datetime) -> list[QueuedRun]:
    """Admitted job runs none of whose steps was dispatched (their start was lost)."""
    rows = await conn.fetch(
        "SELECT r.uuid::text AS run_uuid, r.job_uuid::text, j.max_parallel_runs, r.project_dir,"
        " j.snapshot_dir FROM runs r JOIN jobs j ON j.uuid = r.job_uuid"
        " WHERE r.admitted AND r.job_uuid IS NOT NULL AND r.status = 'PENDING'"
        " AND r.admitted_time < $1 AND NOT r.abort_requested"
        " AND NOT EXISTS (SELECT 1 FROM run_steps s WHERE s.run_uuid = r.uuid AND s.dispatched)"
        " LIMIT 1000",
        before,
    )
    return [_queued(r) for r in rows]


async def unfinished_runs_of_ended_jobs(conn: Connection) -> list[str]:
    rows = await conn.fetch(
        "SELECT r.uuid::text FROM runs r JOIN jobs j ON j.uuid = r.job_uuid"
        " WHERE j.status = 'ABORTED' AND r.status IN ('PENDING', 'STARTED') LIMIT 1000"
    )
    return [r["uuid"] for r in rows]


async def unfinished_runs(conn: Connection, job_uuid: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT uuid::text FROM runs WHERE job_uuid = $1 AND status IN ('PENDING', 'STARTED')"
        " ORDER BY job_run_index, job_run_pipeline_run_index",
        job_uuid,
    )
    return [r["uuid"] for r in rows]


async def run_job(conn: Connection, run_uuid: str) -> str | None:
    value = await conn.fetchval("SELECT job_uuid::text FROM runs WHERE uuid = $1", run_uuid)
    return str(value) if value is not None else None


# -- completion and retention -------------------------------------------------------


async def finish_if_done(conn: Connection, job_uuid: str, now: datetime) -> JobRecord | None:
    """End a job that will run nothing more (no schedule left, no unfinished
    run): SUCCESS if every run succeeded, else FAILURE. The job, if it ended.

    The job's row is locked first, in a statement of its own (``conn`` must be
    in a transaction): a statement that waits for a lock still reads with the
    snapshot it started with, so an UPDATE that waited for a ``trigger`` would
    not see the runs the trigger queued and would end the job with them
    queued, never to be admitted. The next statement reads after the lock."""
    await conn.execute("SELECT 1 FROM jobs WHERE uuid = $1 FOR UPDATE", job_uuid)
    status = await conn.fetchval(
        "UPDATE jobs SET finished_time = $2, status = CASE WHEN EXISTS ("
        "   SELECT 1 FROM runs WHERE job_uuid = $1 AND status IN ('FAILURE', 'ABORTED'))"
        "   THEN 'FAILURE' ELSE 'SUCCESS' END"
        " WHERE uuid = $1 AND status = 'STARTED' AND next_scheduled_time IS NULL"
        " AND NOT EXISTS (SELECT 1 FROM runs WHERE job_uuid = $1"
        "   AND status IN ('PENDING', 'STARTED'))"
        " RETURNING status",
        job_uuid,
        now,
    )
    if status is None:
        return None
    return await load_job(conn, job_uuid)


async def jobs_maybe_done(conn: Connection) -> list[str]:
    rows = await conn.fetch(
        "SELECT uuid::text FROM jobs j WHERE status = 'STARTED' AND next_scheduled_time IS NULL"
        " AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.job_uuid = j.uuid"
        "   AND r.status IN ('PENDING', 'STARTED')) LIMIT 1000"
    )
    return [r["uuid"] for r in rows]


async def runs_to_keep(conn: Connection, job_uuid: str) -> int | None:
    """The job's ``max_retained_pipeline_runs`` (None: no such job)."""
    value: int | None = await conn.fetchval(
        "SELECT max_retained_pipeline_runs FROM jobs WHERE uuid = $1", job_uuid
    )
    return value


async def runs_beyond_retention(conn: Connection, job_uuid: str, keep: int) -> list[str]:
    """Ended runs of the job older than its ``keep`` newest runs."""
    rows = await conn.fetch(
        "SELECT uuid::text FROM ("
        "   SELECT uuid, status, row_number() OVER ("
        "     ORDER BY job_run_index DESC, job_run_pipeline_run_index DESC) AS place"
        "   FROM runs WHERE job_uuid = $1"
        " ) r WHERE r.place > $2 AND r.status = ANY($3::text[])",
        job_uuid,
        keep,
        FINAL_RUN_STATES,
    )
    return [r["uuid"] for r in rows]


async def delete_runs(conn: Connection, run_uuids: list[str]) -> list[tuple[str, str]]:
    """Delete ended runs with their steps and events; (uuid, project dir) of each deleted."""
    rows = await conn.fetch(
        "WITH gone AS (DELETE FROM runs WHERE uuid = ANY($1::uuid[])"
        "   AND status = ANY($2::text[]) RETURNING uuid, project_dir),"
        " events AS (DELETE FROM event_log WHERE run_uuid IN (SELECT uuid FROM gone))"
        " SELECT uuid::text, project_dir FROM gone",
        run_uuids,
        FINAL_RUN_STATES,
    )
    return [(r["uuid"], r["project_dir"]) for r in rows]
