"""What the gateway reads from the scheduler's tables (read-only; the
scheduler owns them and their migrations)."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from orchest_schemas.events import StepStatusChanged
from orchest_schemas.runs import RunList, RunView, StepView
from orchest_schemas.status import RunStatus

Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy
"""A connection, or one lent by the pool."""

_RUN_COLUMNS = (
    "uuid::text, pipeline_uuid, project_uuid, job_uuid::text, run_type, status,"
    " created_time, started_time, finished_time, job_run_index, job_run_pipeline_run_index,"
    " parameters"
)
_STEP_COLUMNS = (
    "run_uuid::text, step_uuid, title, file_path, status, attempt, started_time,"
    " finished_time, exit_code, error,"
    " ARRAY(SELECT jsonb_array_elements_text(artifacts)) AS artifacts"
)


def from_jsonb(value: str | None) -> Any:
    """A jsonb column as asyncpg returns it (text), decoded."""
    return json.loads(value) if value is not None else None


def _step(row: Any) -> StepView:
    return StepView.model_validate(dict(row))


def _run(row: Any, steps: list[StepView]) -> RunView:
    return RunView.model_validate(
        {**row, "parameters": from_jsonb(row["parameters"]), "pipeline_steps": steps}
    )


async def get_run(pool: asyncpg.Pool, run_uuid: str) -> RunView | None:
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        row = await conn.fetchrow(
            f"SELECT {_RUN_COLUMNS} FROM scheduler.runs WHERE uuid = $1", run_uuid
        )
        if row is None:
            return None
        steps = await conn.fetch(
            f"SELECT {_STEP_COLUMNS} FROM scheduler.run_steps WHERE run_uuid = $1"
            " ORDER BY position",
            run_uuid,
        )
    return _run(row, [_step(s) for s in steps])


async def list_runs(
    pool: asyncpg.Pool,
    *,
    pipeline_uuid: str | None,
    status: RunStatus | None,
    limit: int,
    offset: int,
    job_uuid: str | None = None,
) -> RunList:
    where = (
        "($1::text IS NULL OR pipeline_uuid = $1) AND ($2::text IS NULL OR status = $2)"
        " AND ($3::uuid IS NULL OR job_uuid = $3::uuid)"
    )
    args = (pipeline_uuid, status.value if status else None, job_uuid)
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        return await runs_page(
            conn, where, args, "created_time DESC, uuid", limit=limit, offset=offset
        )


async def runs_page(
    conn: Connection,
    where: str,
    args: tuple[Any, ...],
    order_by: str,
    *,
    limit: int,
    offset: int,
) -> RunList:
    """One page of the runs ``where`` selects (its ``$n`` are ``args``), each
    with its steps; call it inside a read-only transaction."""
    total = await conn.fetchval(f"SELECT count(*) FROM scheduler.runs WHERE {where}", *args)
    page = f"LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}"
    rows = await conn.fetch(
        f"SELECT {_RUN_COLUMNS} FROM scheduler.runs WHERE {where} ORDER BY {order_by} {page}",
        *args,
        limit,
        offset,
    )
    uuids = [r["uuid"] for r in rows]
    steps = await conn.fetch(
        f"SELECT {_STEP_COLUMNS} FROM scheduler.run_steps WHERE run_uuid = ANY($1::uuid[])"
        " ORDER BY run_uuid, position",
        uuids,
    )
    by_run: dict[str, list[StepView]] = {u: [] for u in uuids}
    for s in steps:
        by_run[s["run_uuid"]].append(_step(s))
    return RunList(
        runs=[_run(r, by_run[r["uuid"]]) for r in rows], total=total, limit=limit, offset=offset
    )


async def get_step(pool: asyncpg.Pool, run_uuid: str, step_uuid: str) -> StepView | None:
    row = await pool.fetchrow(
        f"SELECT {_STEP_COLUMNS} FROM scheduler.run_steps WHERE run_uuid = $1 AND step_uuid = $2",
        run_uuid,
        step_uuid,
    )
    return _step(row) if row is not None else None


async def step_events(pool: asyncpg.Pool, run_uuid: str) -> list[StepStatusChanged] | None:
    """The run's step events in the order they were logged (its attempts'
    history, ``attempts.fold_attempts``); None when there is no such run."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        if not await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM scheduler.runs WHERE uuid = $1)", run_uuid
        ):
            return None
        rows = await conn.fetch(
            "SELECT payload::text FROM scheduler.event_log"
            " WHERE run_uuid = $1 AND kind = 'step_status_changed' ORDER BY seq",
            run_uuid,
        )
    return [StepStatusChanged.model_validate_json(r["payload"]) for r in rows]
