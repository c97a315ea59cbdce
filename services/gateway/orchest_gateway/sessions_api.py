"""``/api/sessions``: launch, list, read, stop and restart interactive sessions.

A session is named by its pipeline: ``/api/sessions/{project_uuid}/{pipeline_uuid}``.
Both are free-form strings in Orchest; here each must be one bus subject token
(letters, digits, ``_`` and ``-``), since the session's events are published
under them: anything else names nothing (404 in a path, 422 in a body).
Changes are the session manager's commands; reads come from its table.
"""

from __future__ import annotations

from pydantic import Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from orchest_schemas.commands import LaunchSession, RestartSession, StopSession
from orchest_schemas.status import SessionStatus

from . import session_reads
from .body import query_bool, query_choice, query_int, query_text, read_json
from .deps import deps_of
from .errors import ApiError
from .jobs_api import forward_command

SUBJECT_TOKEN = r"^[A-Za-z0-9_-]+$"


class SessionLaunch(LaunchSession):
    """The body of ``POST /api/sessions``: ``LaunchSession``, its project and
    pipeline uuids each one subject token."""

    project_uuid: str = Field(pattern=SUBJECT_TOKEN)
    pipeline_uuid: str = Field(pattern=SUBJECT_TOKEN)


def path_session(request: Request) -> tuple[str, str]:
    """The (project, pipeline) the path names; a malformed one names nothing: 404."""
    project_uuid = request.path_params["project_uuid"]
    pipeline_uuid = request.path_params["pipeline_uuid"]
    try:
        deps_of(request).bus.session_event(project_uuid, pipeline_uuid)
    except ValueError:
        raise ApiError(
            404, f"no session of pipeline {pipeline_uuid} in project {project_uuid}"
        ) from None
    return project_uuid, pipeline_uuid


async def launch_session(request: Request) -> Response:
    deps = deps_of(request)
    command = await read_json(request, SessionLaunch, deps.settings)
    return await forward_command(request, deps.bus.launch_session, command, 201)


async def list_sessions(request: Request) -> Response:
    sessions = await session_reads.list_sessions(
        deps_of(request).pool,
        project_uuid=query_text(request, "project_uuid"),
        pipeline_uuid=query_text(request, "pipeline_uuid"),
        status=query_choice(request, "status", SessionStatus),
        live=query_bool(request, "live"),
        limit=query_int(request, "limit", 50, 1, 500),
        offset=query_int(request, "offset", 0, 0, 10**9),
    )
    return JSONResponse(sessions.model_dump(mode="json"))


async def get_session(request: Request) -> Response:
    project_uuid, pipeline_uuid = path_session(request)
    session = await session_reads.get_session(deps_of(request).pool, project_uuid, pipeline_uuid)
    if session is None:
        raise ApiError(404, f"no session of pipeline {pipeline_uuid} in project {project_uuid}")
    return JSONResponse(session.model_dump(mode="json"))


async def stop_session(request: Request) -> Response:
    project_uuid, pipeline_uuid = path_session(request)
    command = StopSession(project_uuid=project_uuid, pipeline_uuid=pipeline_uuid)
    return await forward_command(request, deps_of(request).bus.stop_session, command, 200)


async def restart_session(request: Request) -> Response:
    project_uuid, pipeline_uuid = path_session(request)
    command = RestartSession(project_uuid=project_uuid, pipeline_uuid=pipeline_uuid)
    return await forward_command(request, deps_of(request).bus.restart_session, command, 200)
