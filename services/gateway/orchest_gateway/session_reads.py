"""What the gateway reads of sessions from the session manager's table
(read-only; the session manager owns it and its migrations)."""

from __future__ import annotations

from typing import Any

import asyncpg

from orchest_schemas.sessions import SessionList, SessionView
from orchest_schemas.status import SessionStatus
from orchest_service.errors import DependencyUnavailable

from .reads import from_jsonb

LIVE = (SessionStatus.LAUNCHING, SessionStatus.RUNNING, SessionStatus.STOPPING)
"""A pipeline has at most one session in these at a time."""

_COLUMNS = (
    "uuid::text, project_uuid, pipeline_uuid, project_dir, pipeline_path, runtime, status,"
    " reason, jupyter_url, jupyter_token, eg_url AS gateway_url, details, created_time,"
    " updated_time"
)
_MISSING = (asyncpg.UndefinedTableError, asyncpg.InvalidSchemaNameError)
"""No session manager has created its table in this database yet."""


def _session(row: Any) -> SessionView:
    return SessionView.model_validate({**row, "details": from_jsonb(row["details"]) or {}})


def _no_table() -> DependencyUnavailable:
    return DependencyUnavailable("the session manager has not created its tables yet")


async def get_session(
    pool: asyncpg.Pool, project_uuid: str, pipeline_uuid: str
) -> SessionView | None:
    """The pipeline's live session, else its latest ended one, else None."""
    try:
        row = await pool.fetchrow(
            f"SELECT {_COLUMNS} FROM session_manager.sessions"
            " WHERE project_uuid = $1 AND pipeline_uuid = $2"
            " ORDER BY status = ANY($3::text[]) DESC, created_time DESC, uuid LIMIT 1",
            project_uuid,
            pipeline_uuid,
            [s.value for s in LIVE],
        )
    except _MISSING:
        raise _no_table() from None
    return _session(row) if row is not None else None


async def list_sessions(
    pool: asyncpg.Pool,
    *,
    project_uuid: str | None,
    pipeline_uuid: str | None,
    status: SessionStatus | None,
    live: bool,
    limit: int,
    offset: int,
) -> SessionList:
    """A page of sessions, newest first; ``live`` keeps only live ones."""
    where = (
        "($1::text IS NULL OR project_uuid = $1) AND ($2::text IS NULL OR pipeline_uuid = $2)"
        " AND ($3::text IS NULL OR status = $3) AND (NOT $4 OR status = ANY($5::text[]))"
    )
    args = (
        project_uuid,
        pipeline_uuid,
        status.value if status else None,
        live,
        [s.value for s in LIVE],
    )
    try:
        async with (
            pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            total = await conn.fetchval(
                f"SELECT count(*) FROM session_manager.sessions WHERE {where}", *args
            )
            rows = await conn.fetch(
                f"SELECT {_COLUMNS} FROM session_manager.sessions WHERE {where}"
                " ORDER BY created_time DESC, uuid LIMIT $6 OFFSET $7",
                *args,
                limit,
                offset,
            )
    except _MISSING:
        raise _no_table() from None
    return SessionList(
        sessions=[_session(r) for r in rows], total=total, limit=limit, offset=offset
    )
