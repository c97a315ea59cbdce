"""The projects table, and what the projects owner asks of runs and sessions.

Every statement about projects is here. A project's name and path are each
unique, so two replicas registering the same folder (or taking the same
name) at once give one project and one conflict.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from orchest_schemas.projects import ProjectView

from .sql import Connection

_COLUMNS = "uuid::text, name, path, managed, env_variables, created_at, updated_at"


@dataclass(frozen=True)
class ProjectRecord:
    uuid: str
    name: str
    path: str
    managed: bool
    env_variables: dict[str, str]
    created_at: datetime
    updated_at: datetime

    def view(self, exists: bool) -> ProjectView:
        return ProjectView(
            uuid=self.uuid,
            name=self.name,
            path=self.path,
            managed=self.managed,
            exists=exists,
            env_variables=self.env_variables,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


class NameOrPathTaken(Exception):
    """Another project has this name or this path."""

    def __init__(self, constraint: str) -> None:
        super().__init__(constraint)
        self.constraint = constraint


def _record(row: asyncpg.Record) -> ProjectRecord:
    return ProjectRecord(
        uuid=row["uuid"],
        name=row["name"],
        path=row["path"],
        managed=row["managed"],
        env_variables=json.loads(row["env_variables"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def insert_project(
    conn: Connection, record: ProjectRecord, idempotency_key: str | None = None
) -> None:
    try:
        await conn.execute(
            "INSERT INTO projects (uuid, name, path, managed, env_variables, created_at,"
            " updated_at, idempotency_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            record.uuid,
            record.name,
            record.path,
            record.managed,
            json.dumps(record.env_variables),
            record.created_at,
            record.updated_at,
            idempotency_key,
        )
    except asyncpg.UniqueViolationError as exc:
        raise NameOrPathTaken(exc.constraint_name or "") from exc


async def find_by_key(conn: Connection, idempotency_key: str) -> ProjectRecord | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM projects WHERE idempotency_key = $1", idempotency_key
    )
    return _record(row) if row is not None else None


async def find_by_path(conn: Connection, path: str) -> ProjectRecord | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM projects WHERE path = $1", path)
    return _record(row) if row is not None else None


async def insert_found_projects(conn: Connection, records: list[ProjectRecord]) -> None:
    """Projects for folders found in the projects directory; a folder another
    replica recorded meanwhile is left as it is."""
    if records:
        await conn.executemany(
            "INSERT INTO projects (uuid, name, path, managed, env_variables, created_at,"
            " updated_at) VALUES ($1, $2, $3, true, '{}', $4, $4) ON CONFLICT DO NOTHING",
            [(r.uuid, r.name, r.path, r.created_at) for r in records],
        )


async def list_projects(conn: Connection) -> list[ProjectRecord]:
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM projects ORDER BY lower(name), name")
    return [_record(row) for row in rows]


async def load_project(conn: Connection, project_uuid: str) -> ProjectRecord | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM projects WHERE uuid::text = $1 FOR UPDATE", project_uuid
    )
    return _record(row) if row is not None else None


async def update_project(
    conn: Connection, project_uuid: str, changes: dict[str, Any], at: datetime
) -> None:
    """Set ``name``, ``path`` and/or ``env_variables``."""
    try:
        await conn.execute(
            "UPDATE projects SET name = coalesce($2, name), path = coalesce($3, path),"
            " env_variables = coalesce($4::jsonb, env_variables), updated_at = $5"
            " WHERE uuid::text = $1",
            project_uuid,
            changes.get("name"),
            changes.get("path"),
            json.dumps(changes["env_variables"]) if "env_variables" in changes else None,
            at,
        )
    except asyncpg.UniqueViolationError as exc:
        raise NameOrPathTaken(exc.constraint_name or "") from exc


async def delete_project(conn: Connection, project_uuid: str) -> None:
    await conn.execute("DELETE FROM projects WHERE uuid::text = $1", project_uuid)


async def live_work(conn: Connection, project_uuid: str) -> list[str]:
    """What of the project is live: unfinished runs and sessions that are not
    over (the session manager's table, read only)."""
    live: list[str] = []
    runs = await conn.fetchval(
        "SELECT count(*) FROM runs WHERE project_uuid = $1 AND status IN ('PENDING', 'STARTED')",
        project_uuid,
    )
    if runs:
        live.append(f"{runs} run(s) not ended")
    sessions_table = await conn.fetchval("SELECT to_regclass('session_manager.sessions')")
    if sessions_table is not None:
        sessions = await conn.fetchval(
            "SELECT count(*) FROM session_manager.sessions"
            " WHERE project_uuid = $1 AND status NOT IN ('STOPPED', 'FAILED')",
            project_uuid,
        )
        if sessions:
            live.append(f"{sessions} session(s) not stopped")
    return live


async def pipeline_env(conn: Connection, project_uuid: str, pipeline_uuid: str) -> dict[str, str]:
    value = await conn.fetchval(
        "SELECT env_variables FROM pipeline_env_variables"
        " WHERE project_uuid::text = $1 AND pipeline_uuid = $2",
        project_uuid,
        pipeline_uuid,
    )
    found: dict[str, str] = json.loads(value) if value is not None else {}
    return found


async def set_pipeline_env(
    conn: Connection, project_uuid: str, pipeline_uuid: str, env: dict[str, str]
) -> None:
    await conn.execute(
        "INSERT INTO pipeline_env_variables (project_uuid, pipeline_uuid, env_variables)"
        " VALUES ($1::uuid, $2, $3::jsonb) ON CONFLICT (project_uuid, pipeline_uuid)"
        " DO UPDATE SET env_variables = excluded.env_variables",
        project_uuid,
        pipeline_uuid,
        json.dumps(env),
    )


_USES_ENVIRONMENT = (
    "EXISTS (SELECT 1 FROM jsonb_each(pipeline_definition->'steps') AS s"
    " WHERE s.value->>'environment' = $2)"
)


async def environment_users(
    conn: Connection, project_uuid: str, environment_uuid: str
) -> list[str]:
    """What uses an environment of the project now: runs not ended and jobs
    not ended whose pipeline names it, and the project's live sessions (their
    kernels offer every environment of the project; the session manager's
    table, read only)."""
    users: list[str] = []
    runs = await conn.fetchval(
        "SELECT count(*) FROM runs WHERE project_uuid = $1 AND status IN ('PENDING', 'STARTED')"
        f" AND {_USES_ENVIRONMENT}",
        project_uuid,
        environment_uuid,
    )
    if runs:
        users.append(f"{runs} run(s) not ended")
    jobs = await conn.fetchval(
        "SELECT count(*) FROM jobs WHERE project_uuid = $1"
        " AND status IN ('DRAFT', 'PENDING', 'STARTED', 'PAUSED')"
        f" AND {_USES_ENVIRONMENT}",
        project_uuid,
        environment_uuid,
    )
    if jobs:
        users.append(f"{jobs} job(s) not ended")
    live = [u for u in await live_work(conn, project_uuid) if "session" in u]
    return users + live
