"""The environment builds and the jobs' pins: every statement about them is here."""

from __future__ import annotations

from typing import Any, TypedDict, Unpack

from orchest_schemas.environments import BuildView, EnvironmentSpec
from orchest_schemas.status import BuildStatus

from .store import Connection

LIVE = [BuildStatus.PENDING.value, BuildStatus.STARTED.value]

_COLUMNS = (
    "uuid::text, project_uuid, environment_uuid, builder, status, reason, exit_code,"
    " venv_path, image, size_bytes, created_time, started_time, finished_time, pruned_time"
)


def _view(row: Any) -> BuildView:
    return BuildView.model_validate(dict(row))


async def insert(
    conn: Connection,
    *,
    uuid: str,
    project_uuid: str,
    environment_uuid: str,
    name: str,
    builder: str,
    spec: EnvironmentSpec,
    owner: str,
) -> BuildView:
    row = await conn.fetchrow(
        "INSERT INTO environment_builds (uuid, project_uuid, environment_uuid, environment_name,"
        " builder, status, spec, owner) VALUES ($1, $2, $3, $4, $5, 'PENDING', $6::jsonb, $7)"
        f" RETURNING {_COLUMNS}",
        uuid,
        project_uuid,
        environment_uuid,
        name,
        builder,
        spec.model_dump_json(),
        owner,
    )
    return _view(row)


class BuildOutcome(TypedDict, total=False):
    """What a build's move may set besides its status (left out: none)."""

    reason: str | None
    exit_code: int | None
    venv_path: str | None
    image: str | None
    size_bytes: int | None


async def transition(
    conn: Connection, uuid: str, status: BuildStatus, **outcome: Unpack[BuildOutcome]
) -> BuildView | None:
    """Move a live build to ``status``; None when it had ended already."""
    row = await conn.fetchrow(
        "UPDATE environment_builds SET status = $2, reason = $3, exit_code = $4,"
        " venv_path = coalesce($5, venv_path), image = coalesce($6, image),"
        " size_bytes = coalesce($7, size_bytes),"
        " started_time = CASE WHEN $2 = 'STARTED' THEN clock_timestamp() ELSE started_time END,"
        " finished_time = CASE WHEN $2 IN ('SUCCESS', 'FAILURE', 'ABORTED')"
        "   THEN clock_timestamp() ELSE finished_time END"
        " WHERE uuid = $1 AND status = ANY($8::text[])"
        f" RETURNING {_COLUMNS}",
        uuid,
        status.value,
        outcome.get("reason"),
        outcome.get("exit_code"),
        outcome.get("venv_path"),
        outcome.get("image"),
        outcome.get("size_bytes"),
        LIVE,
    )
    return _view(row) if row is not None else None


async def get(conn: Connection, uuid: str) -> BuildView | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM environment_builds WHERE uuid::text = $1", uuid
    )
    return _view(row) if row is not None else None


async def of_environment(
    conn: Connection, project_uuid: str | None, environment_uuid: str, limit: int
) -> list[BuildView]:
    """Newest first (``project_uuid`` None: of any project)."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM environment_builds WHERE environment_uuid = $1"
        " AND ($2::text IS NULL OR project_uuid = $2) ORDER BY created_time DESC LIMIT $3",
        environment_uuid,
        project_uuid,
        limit,
    )
    return [_view(r) for r in rows]


async def latest_of_project(conn: Connection, project_uuid: str) -> list[BuildView]:
    """The newest build of each environment of the project."""
    rows = await conn.fetch(
        f"SELECT DISTINCT ON (environment_uuid) {_COLUMNS} FROM environment_builds"
        " WHERE project_uuid = $1 ORDER BY environment_uuid, created_time DESC",
        project_uuid,
    )
    return [_view(r) for r in rows]


async def latest_success(
    conn: Connection, project_uuid: str | None, environment_uuid: str
) -> BuildView | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM environment_builds WHERE environment_uuid = $1"
        " AND ($2::text IS NULL OR project_uuid = $2) AND status = 'SUCCESS'"
        " ORDER BY created_time DESC LIMIT 1",
        environment_uuid,
        project_uuid,
    )
    return _view(row) if row is not None else None


async def live_of_environment(conn: Connection, environment_uuid: str) -> list[BuildView]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM environment_builds WHERE environment_uuid = $1"
        " AND status = ANY($2::text[])",
        environment_uuid,
        LIVE,
    )
    return [_view(r) for r in rows]


async def live_owned_by(conn: Connection, owner: str) -> list[BuildView]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM environment_builds WHERE owner = $1 AND status = ANY($2::text[])",
        owner,
        LIVE,
    )
    return [_view(r) for r in rows]


async def name_of(conn: Connection, build_uuid: str) -> str:
    name: str | None = await conn.fetchval(
        "SELECT environment_name FROM environment_builds WHERE uuid::text = $1", build_uuid
    )
    return name or ""


async def lock_pins(conn: Connection, environment_uuid: str) -> None:
    """Hold the environment's pins until the transaction ends: a job pinning
    its latest build and a prune choosing what to remove take their turns."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('environment-pins:' || $1, 0))",
        environment_uuid,
    )


async def superseded_venvs(
    conn: Connection,
    owner: str,
    project_uuid: str | None = None,
    environment_uuid: str | None = None,
) -> list[BuildView]:
    """The successful process builds of ``owner`` whose venv is still there
    though a newer build of their environment succeeded and no job pins them
    (of one environment of a project, or all of them)."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM environment_builds b WHERE b.owner = $1"
        " AND b.builder = 'process' AND b.status = 'SUCCESS' AND b.pruned_time IS NULL"
        " AND b.venv_path IS NOT NULL"
        " AND ($2::text IS NULL OR b.project_uuid = $2)"
        " AND ($3::text IS NULL OR b.environment_uuid = $3)"
        " AND b.uuid <> (SELECT l.uuid FROM environment_builds l"
        "   WHERE l.environment_uuid = b.environment_uuid AND l.project_uuid = b.project_uuid"
        "   AND l.status = 'SUCCESS' ORDER BY l.created_time DESC LIMIT 1)"
        " AND NOT EXISTS (SELECT 1 FROM environment_pins p WHERE p.build_uuid = b.uuid)"
        " ORDER BY b.created_time",
        owner,
        project_uuid,
        environment_uuid,
    )
    return [_view(r) for r in rows]


async def mark_pruned(conn: Connection, uuid: str) -> BuildView | None:
    """Say that the build's venv is gone (None: it was said already)."""
    row = await conn.fetchrow(
        "UPDATE environment_builds SET pruned_time = clock_timestamp()"
        f" WHERE uuid::text = $1 AND pruned_time IS NULL RETURNING {_COLUMNS}",
        uuid,
    )
    return _view(row) if row is not None else None


async def pin(conn: Connection, job_uuid: str, environment_uuid: str, build_uuid: str) -> None:
    await conn.execute(
        "INSERT INTO environment_pins (job_uuid, environment_uuid, build_uuid)"
        " VALUES ($1, $2, $3::uuid) ON CONFLICT (job_uuid, environment_uuid) DO NOTHING",
        job_uuid,
        environment_uuid,
        build_uuid,
    )


async def pinned(conn: Connection, job_uuid: str, environment_uuid: str) -> BuildView | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM environment_builds WHERE uuid = (SELECT build_uuid"
        " FROM environment_pins WHERE job_uuid = $1 AND environment_uuid = $2)",
        job_uuid,
        environment_uuid,
    )
    return _view(row) if row is not None else None


async def pinned_images(conn: Connection, environment_uuid: str) -> list[str]:
    """The images of an environment's builds that jobs pin."""
    rows = await conn.fetch(
        "SELECT DISTINCT b.image FROM environment_pins p JOIN environment_builds b"
        " ON b.uuid = p.build_uuid WHERE p.environment_uuid = $1 AND b.image IS NOT NULL",
        environment_uuid,
    )
    return [r["image"] for r in rows]


async def successes_of_project(conn: Connection, project_uuid: str) -> list[BuildView]:
    """The latest successful build of each environment of the project."""
    rows = await conn.fetch(
        f"SELECT DISTINCT ON (environment_uuid) {_COLUMNS} FROM environment_builds"
        " WHERE project_uuid = $1 AND status = 'SUCCESS'"
        " ORDER BY environment_uuid, created_time DESC",
        project_uuid,
    )
    return [_view(r) for r in rows]
