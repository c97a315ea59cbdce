"""What the gateway reads of jobs from the scheduler's tables (read-only)."""

from __future__ import annotations

from typing import Any

import asyncpg

from orchest_schemas.jobs import JobList, JobView
from orchest_schemas.runs import RunList
from orchest_schemas.status import JobStatus, RunStatus

from .reads import Connection, from_jsonb, runs_page

_JOB_COLUMNS = (
    "uuid::text, name, pipeline_uuid, project_uuid, project_dir, snapshot_dir, run_type,"
    " run_uuids, parameters, env_variables, status, scheduled_start, cron_schedule,"
    " next_scheduled_time, last_scheduled_time, total_scheduled_executions,"
    " max_retained_pipeline_runs, max_parallel_runs, created_time, finished_time"
)


def _job(row: Any, counts: dict[str, int], *, with_definition: bool = False) -> JobView:
    values = dict(row)
    values["pipeline_run_spec"] = {
        "run_type": values.pop("run_type"),
        "uuids": values.pop("run_uuids"),
    }
    for column in ("parameters", "env_variables", "pipeline_definition"):
        if column in values:
            values[column] = from_jsonb(values[column])
    values["run_counts"] = counts
    if not with_definition:
        values.pop("pipeline_definition", None)
    return JobView.model_validate(values)


async def _run_counts(conn: Connection, job_uuids: list[str]) -> dict[str, dict[str, int]]:
    """Each job's runs per status, statuses in their lifecycle order."""
    rows = await conn.fetch(
        "SELECT job_uuid::text, status, count(*) AS n FROM scheduler.runs"
        " WHERE job_uuid = ANY($1::uuid[]) GROUP BY job_uuid, status",
        job_uuids,
    )
    found: dict[str, dict[str, int]] = {u: {} for u in job_uuids}
    for r in rows:
        found[r["job_uuid"]][r["status"]] = r["n"]
    return {
        job: {s.value: counts[s.value] for s in RunStatus if s.value in counts}
        for job, counts in found.items()
    }


async def get_job(pool: asyncpg.Pool, job_uuid: str) -> JobView | None:
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        row = await conn.fetchrow(
            f"SELECT {_JOB_COLUMNS}, pipeline_definition FROM scheduler.jobs WHERE uuid = $1",
            job_uuid,
        )
        if row is None:
            return None
        counts = await _run_counts(conn, [job_uuid])
    return _job(row, counts[job_uuid], with_definition=True)


async def list_jobs(
    pool: asyncpg.Pool,
    *,
    status: JobStatus | None,
    pipeline_uuid: str | None,
    project_uuid: str | None,
    limit: int,
    offset: int,
) -> JobList:
    where = (
        "($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR pipeline_uuid = $2)"
        " AND ($3::text IS NULL OR project_uuid = $3)"
    )
    args = (status.value if status else None, pipeline_uuid, project_uuid)
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        total = await conn.fetchval(f"SELECT count(*) FROM scheduler.jobs WHERE {where}", *args)
        rows = await conn.fetch(
            f"SELECT {_JOB_COLUMNS} FROM scheduler.jobs WHERE {where}"
            " ORDER BY created_time DESC, uuid LIMIT $4 OFFSET $5",
            *args,
            limit,
            offset,
        )
        counts = await _run_counts(conn, [r["uuid"] for r in rows])
    return JobList(
        jobs=[_job(r, counts[r["uuid"]]) for r in rows], total=total, limit=limit, offset=offset
    )


async def list_job_runs(
    pool: asyncpg.Pool, job_uuid: str, *, status: RunStatus | None, limit: int, offset: int
) -> RunList | None:
    """A page of a job's runs, the latest execution first and each execution's
    runs in the order of its parameter sets; None when there is no such job."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        if not await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM scheduler.jobs WHERE uuid = $1)", job_uuid
        ):
            return None
        return await runs_page(
            conn,
            "job_uuid = $1 AND ($2::text IS NULL OR status = $2)",
            (job_uuid, status.value if status else None),
            "job_run_index DESC, job_run_pipeline_run_index, uuid",
            limit=limit,
            offset=offset,
        )
