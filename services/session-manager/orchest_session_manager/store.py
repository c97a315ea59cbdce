"""The sessions table: every statement the session manager runs is here."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from orchest_schemas.sessions import SessionView
from orchest_schemas.status import SessionStatus

Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy

LIVE = [SessionStatus.LAUNCHING.value, SessionStatus.RUNNING.value, SessionStatus.STOPPING.value]

_COLUMNS = (
    "uuid::text, project_uuid, pipeline_uuid, project_dir, pipeline_path, runtime, status,"
    " reason, jupyter_url, jupyter_token, eg_url AS gateway_url, details, created_time,"
    " updated_time, owner"
)


def view(row: Any) -> SessionView:
    data = dict(row)
    data["details"] = json.loads(data["details"]) if data["details"] else {}
    return SessionView.model_validate(data)


async def insert(
    conn: Connection,
    *,
    uuid: str,
    project_uuid: str,
    pipeline_uuid: str,
    project_dir: str,
    pipeline_path: str,
    runtime: str,
    owner: str,
) -> SessionView | None:
    """A new ``LAUNCHING`` session; None when the pipeline already has a live one."""
    try:
        row = await conn.fetchrow(
            "INSERT INTO sessions (uuid, project_uuid, pipeline_uuid, project_dir, pipeline_path,"
            " runtime, status, owner) VALUES ($1, $2, $3, $4, $5, $6, 'LAUNCHING', $7)"
            f" RETURNING {_COLUMNS}",
            uuid,
            project_uuid,
            pipeline_uuid,
            project_dir,
            pipeline_path,
            runtime,
            owner,
        )
    except asyncpg.UniqueViolationError:
        return None
    return view(row)


async def live_of_pipeline(
    conn: Connection, project_uuid: str, pipeline_uuid: str
) -> SessionView | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM sessions WHERE project_uuid = $1 AND pipeline_uuid = $2"
        " AND status = ANY($3::text[])",
        project_uuid,
        pipeline_uuid,
        LIVE,
    )
    return view(row) if row is not None else None


async def get(conn: Connection, uuid: str) -> SessionView | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM sessions WHERE uuid = $1", uuid)
    return view(row) if row is not None else None


async def live_owned_by(conn: Connection, owner: str) -> list[SessionView]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM sessions WHERE owner = $1 AND status = ANY($2::text[])"
        " ORDER BY created_time",
        owner,
        LIVE,
    )
    return [view(r) for r in rows]


async def transition(
    conn: Connection,
    uuid: str,
    status: SessionStatus,
    *,
    expected: list[SessionStatus] | None = None,
    reason: str | None = None,
    endpoints: dict[str, Any] | None = None,
) -> SessionView | None:
    """Move a session to ``status`` (only from ``expected`` when given); the
    session after, or None when it was not in an expected status."""
    endpoints = endpoints or {}
    row = await conn.fetchrow(
        "UPDATE sessions SET status = $2, reason = $3, updated_time = now(),"
        " jupyter_url = CASE WHEN $2 = 'RUNNING' THEN $5 WHEN $2 = 'LAUNCHING' THEN NULL"
        "   ELSE jupyter_url END,"
        " jupyter_token = CASE WHEN $2 = 'RUNNING' THEN $6 WHEN $2 = 'LAUNCHING' THEN NULL"
        "   ELSE jupyter_token END,"
        " eg_url = CASE WHEN $2 = 'RUNNING' THEN $7 WHEN $2 = 'LAUNCHING' THEN NULL"
        "   ELSE eg_url END,"
        " details = CASE WHEN $2 = 'RUNNING' THEN $8::jsonb WHEN $2 IN ('STOPPED', 'LAUNCHING')"
        "   THEN '{}'::jsonb ELSE details END"
        " WHERE uuid = $1 AND ($4::text[] IS NULL OR status = ANY($4::text[]))"
        f" RETURNING {_COLUMNS}",
        uuid,
        status.value,
        reason,
        [s.value for s in expected] if expected is not None else None,
        endpoints.get("jupyter_url"),
        endpoints.get("jupyter_token"),
        endpoints.get("gateway_url"),
        json.dumps(endpoints.get("details", {})),
    )
    return view(row) if row is not None else None


async def active_interactive_runs(
    conn: Connection, project_uuid: str, pipeline_uuid: str
) -> list[str]:
    """The pipeline's unfinished interactive runs (read from the scheduler's table)."""
    rows = await conn.fetch(
        "SELECT uuid::text FROM scheduler.runs WHERE pipeline_uuid = $1"
        " AND (project_uuid = $2 OR project_uuid IS NULL) AND job_uuid IS NULL"
        " AND status IN ('PENDING', 'STARTED')",
        pipeline_uuid,
        project_uuid,
    )
    return [r["uuid"] for r in rows]
