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
from orchest_schemas.sessions import SessionList, SessionView
from orchest_schemas.status import SessionStatus

from . import session_reads
from .body import query_bool, query_choice, query_int, query_text, read_json
from .deps import deps_of
from .errors import ApiError
from .openapi import BODY_ERRORS, LIMIT, OFFSET, Operation, OperationGroup, Parameter
from .owners import forward

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
    return await forward(request, command, deps.bus.launch_session, 201)


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
    return await forward(request, command, deps_of(request).bus.stop_session, 200)


async def restart_session(request: Request) -> Response:
    project_uuid, pipeline_uuid = path_session(request)
    command = RestartSession(project_uuid=project_uuid, pipeline_uuid=pipeline_uuid)
    return await forward(request, command, deps_of(request).bus.restart_session, 200)


PROJECT = Parameter("project_uuid", "path", "The project's uuid (one subject token)")
PIPELINE = Parameter("pipeline_uuid", "path", "The pipeline's uuid (one subject token)")
SESSION_ERRORS: dict[int, tuple[str, None]] = {
    404: ("The pipeline has no live session (or the path names none)", None),
    503: ("The session manager did not answer", None),
}

SESSIONS = OperationGroup("/api/sessions", ("sessions",))

OPERATIONS: tuple[Operation, ...] = (
    SESSIONS(
        "POST",
        "",
        "launchSession",
        "Launch a pipeline's interactive session (Jupyter server and kernel gateway)",
        {
            404: ("By reference: no such project, or no such pipeline in it", None),
            201: ("The session, LAUNCHING; it turns RUNNING or FAILED later", SessionView),
            409: ("The pipeline already has a live session", None),
            422: ("The request is invalid (project_dir, runtime...); every problem", None),
            503: ("The session manager did not answer", None),
            **BODY_ERRORS,
        },
        request_body=SessionLaunch,
    ),
    SESSIONS(
        "GET",
        "",
        "listSessions",
        "Sessions, newest first, ended ones included unless live=true",
        {
            200: ("A page of sessions", SessionList),
            422: ("Bad query parameter", None),
            503: ("The session manager has not created its tables yet", None),
        },
        parameters=(
            Parameter("project_uuid", "query", "Only this project's sessions"),
            Parameter("pipeline_uuid", "query", "Only this pipeline's sessions"),
            Parameter(
                "status",
                "query",
                "Only sessions in this status",
                {"enum": [s.value for s in SessionStatus]},
            ),
            Parameter(
                "live",
                "query",
                "Only live sessions (LAUNCHING, RUNNING or STOPPING)",
                {"type": "boolean", "default": False},
            ),
            LIMIT,
            OFFSET,
        ),
    ),
    SESSIONS(
        "GET",
        "/{project_uuid}/{pipeline_uuid}",
        "getSession",
        "A pipeline's live session, else its latest ended one: Jupyter URL and token",
        {
            200: ("The session", SessionView),
            404: ("The pipeline never had a session", None),
            503: ("The session manager has not created its tables yet", None),
        },
        parameters=(PROJECT, PIPELINE),
    ),
    SESSIONS(
        "DELETE",
        "/{project_uuid}/{pipeline_uuid}",
        "stopSession",
        "Stop a pipeline's live session; it turns STOPPED once everything is gone",
        {200: ("The session, STOPPING", SessionView), **SESSION_ERRORS},
        parameters=(PROJECT, PIPELINE),
    ),
    SESSIONS(
        "PUT",
        "/{project_uuid}/{pipeline_uuid}",
        "restartSession",
        "Restart a pipeline's running session (its kernels and servers)",
        {
            200: ("The session, LAUNCHING again", SessionView),
            409: ("The session is not RUNNING", None),
            **SESSION_ERRORS,
        },
        parameters=(PROJECT, PIPELINE),
    ),
)

HANDLERS = {
    "launchSession": launch_session,
    "listSessions": list_sessions,
    "getSession": get_session,
    "stopSession": stop_session,
    "restartSession": restart_session,
}
