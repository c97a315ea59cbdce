"""The Starlette application: routes, their OpenAPI operations, error handlers."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orchest_schemas.commands import CreateJob, CreateRun
from orchest_schemas.health import HealthReport
from orchest_schemas.jobs import JobList, JobView
from orchest_schemas.runs import AttemptList, RunList, RunView, StepView
from orchest_schemas.status import JobStatus

from . import (
    events_api,
    jobs_api,
    logs_api,
    project_files_api,
    projects_api,
    runs_api,
    schedules_api,
    sessions_api,
)
from .api_docs import DOCS_PATH, docs_asset, docs_page
from .auth import OPEN_PATHS, QUERY_TOKEN_PATHS, BearerAuth, TokenChecker
from .dashboard import DashboardFiles
from .deps import GatewayDeps, deps_of
from .errors import EXCEPTION_HANDLERS
from .health import health_report
from .openapi import BODY_ERRORS, LIMIT, OFFSET, Auth, Operation, Parameter, build_document
from .openapi_examples import EXAMPLES

API_TITLE = "Orchest API"
API_DESCRIPTION = (
    "Runs data-science pipelines (DAGs of notebooks and scripts) as interactive runs, "
    "partial runs and jobs, and manages interactive Jupyter sessions. Every 4xx and 5xx "
    'answers {"message": ..., "errors": [...]}. With ORCHEST_API_TOKENS set, every '
    "operation but ping needs Authorization: Bearer <token> (streamEvents also takes "
    "?access_token=)."
)


def _json(model: Any, status: int = 200) -> Response:
    return JSONResponse(model.model_dump(mode="json"), status_code=status)


async def get_health(request: Request) -> Response:
    deps = deps_of(request)
    report = await health_report(deps.nc, deps.pool, deps.settings)
    return _json(report, 200 if report.status == "ok" else 503)


async def ping(request: Request) -> Response:
    """Liveness of this gateway process alone (no dependency asked)."""
    return Response(status_code=204)


async def get_openapi(request: Request) -> Response:
    document: dict[str, Any] = request.app.state.openapi
    return JSONResponse(document)


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        method="GET",
        path="/api/health",
        operation_id="getHealth",
        summary="Live instances of every service, and the state of NATS and Postgres",
        responses={
            200: ("Every service has a live instance", HealthReport),
            503: ("Something is missing; `missing` and `errors` name it", HealthReport),
        },
        tags=("system",),
    ),
    Operation(
        method="GET",
        path="/api/ping",
        operation_id="ping",
        summary="Liveness of this gateway process (asks no other service)",
        responses={204: ("Alive", None)},
        tags=("system",),
    ),
    Operation(
        method="GET",
        path="/api/openapi.json",
        operation_id="getOpenApi",
        summary="This document",
        responses={200: ("The OpenAPI document", None)},
        tags=("system",),
    ),
)

RUN = Parameter("run_uuid", "path", "The run's uuid")
STEP = Parameter("step_uuid", "path", "The step's uuid")
RUN_ERRORS: dict[int, tuple[str, None]] = {404: ("No such run", None)}
RUN_STATUS = Parameter(
    "status",
    "query",
    "Only runs in this status",
    {"enum": ["PENDING", "STARTED", "SUCCESS", "FAILURE", "ABORTED"]},
)

OPERATIONS += (
    Operation(
        method="POST",
        path="/api/runs",
        operation_id="createRun",
        summary="Start an interactive run (full or partial) of a pipeline",
        request_body=CreateRun,
        responses={
            404: ("By reference: no such project, or no such pipeline in it", None),
            201: ("The run, with a row for each step it will run", RunView),
            400: ("The body is not JSON", None),
            413: ("The body is too large", None),
            422: ("The definition or the request is invalid; every problem listed", None),
            503: ("The scheduler did not answer", None),
        },
        tags=("runs",),
    ),
    Operation(
        method="GET",
        path="/api/runs",
        operation_id="listRuns",
        summary="Runs, newest first",
        parameters=(
            Parameter("pipeline_uuid", "query", "Only this pipeline's runs"),
            Parameter(
                "job_uuid", "query", "Only this job's runs", {"type": "string", "format": "uuid"}
            ),
            RUN_STATUS,
            LIMIT,
            OFFSET,
        ),
        responses={
            200: ("A page of runs", RunList),
            422: ("Bad query parameter (a job_uuid that is not a uuid)", None),
        },
        tags=("runs",),
    ),
    Operation(
        method="GET",
        path="/api/runs/{run_uuid}",
        operation_id="getRun",
        summary="A run and its steps",
        parameters=(RUN,),
        responses={200: ("The run", RunView), **RUN_ERRORS},
        tags=("runs",),
    ),
    Operation(
        method="DELETE",
        path="/api/runs/{run_uuid}",
        operation_id="abortRun",
        summary="Abort a run: running steps are killed, unfinished steps ABORTED (idempotent)",
        parameters=(RUN,),
        responses={200: ("The run after the abort", RunView), **RUN_ERRORS},
        tags=("runs",),
    ),
    Operation(
        method="GET",
        path="/api/runs/{run_uuid}/attempts",
        operation_id="listRunAttempts",
        summary="Every attempt of the run's steps (status, exit code, error, times), as made",
        parameters=(RUN, Parameter("step_uuid", "query", "Only this step's attempts")),
        responses={
            200: ("The run's attempts", AttemptList),
            **RUN_ERRORS,
            422: ("Bad query parameter", None),
        },
        tags=("runs",),
    ),
    Operation(
        method="GET",
        path="/api/runs/{run_uuid}/steps/{step_uuid}",
        operation_id="getRunStep",
        summary="One step of a run",
        parameters=(RUN, STEP),
        responses={200: ("The step", StepView), 404: ("No such run or step", None)},
        tags=("runs",),
    ),
    Operation(
        method="GET",
        path="/api/runs/{run_uuid}/steps/{step_uuid}/logs",
        operation_id="getRunStepLogs",
        summary="A step's output: the whole log, or streamed until the step ends (follow)",
        parameters=(
            RUN,
            STEP,
            Parameter("follow", "query", "Stream until the step ends", {"type": "boolean"}),
            Parameter("attempt", "query", "Only this attempt", {"type": "integer"}),
        ),
        responses={
            200: ("The log (text/plain)", None),
            404: ("No such run or step", None),
            422: ("Bad query parameter", None),
        },
        tags=("runs",),
        content_type="text/plain",
    ),
    Operation(
        method="GET",
        path="/api/runs/{run_uuid}/steps/{step_uuid}/artifacts/{name}",
        operation_id="getRunStepArtifact",
        summary="An artifact of a step attempt (the executed notebook: executed.ipynb)",
        parameters=(
            RUN,
            STEP,
            Parameter("name", "path", "The artifact's name"),
            Parameter("attempt", "query", "The attempt [default: the latest]", {"type": "integer"}),
        ),
        responses={
            200: ("The artifact's bytes", None),
            404: ("No such artifact", None),
            422: ("Bad query parameter", None),
        },
        tags=("runs",),
        content_type="application/octet-stream",
        other_content_types=("application/x-ipynb+json",),
    ),
    Operation(
        method="GET",
        path="/api/events",
        operation_id="streamEvents",
        summary="Status events as Server-Sent Events; resume with Last-Event-ID",
        parameters=(
            Parameter("run_uuid", "query", "Only this run's events"),
            Parameter("pipeline_uuid", "query", "Only this pipeline's events"),
            Parameter("job_uuid", "query", "Only this job's events and its runs' status changes"),
            Parameter(
                "session",
                "query",
                "Only the status changes of this pipeline's sessions:"
                " `<project_uuid>/<pipeline_uuid>`",
            ),
            Parameter("project_uuid", "query", "Only this project's events (files changed)"),
            Parameter(
                "replay", "query", "Start from the first matching event", {"type": "boolean"}
            ),
            Parameter("Last-Event-ID", "header", "Resume after this event id"),
            Parameter("last_event_id", "query", "Resume after this event id (if no header)"),
        ),
        responses={
            200: (
                "An event stream (text/event-stream); a client that takes no event for "
                "ORCHEST_SSE_STALL_SECONDS gets `event: error` (data: message, "
                "last_event_id to resume from) and is dropped",
                None,
            ),
            422: ("Bad filter, Last-Event-ID or query parameter", None),
        },
        tags=("events",),
        content_type="text/event-stream",
    ),
)

JOB = Parameter("job_uuid", "path", "The job's uuid")
JOB_ERRORS: dict[int, tuple[str, None]] = {404: ("No such job", None)}
SCHEDULER_ERRORS: dict[int, tuple[str, None]] = {503: ("The scheduler did not answer", None)}

OPERATIONS += (
    Operation(
        method="POST",
        path="/api/jobs",
        operation_id="createJob",
        summary="Create a job: a pipeline run once per parameter set, now, at a time or on a cron",
        request_body=CreateJob,
        responses={
            404: ("By reference: no such project, or no such pipeline in it", None),
            201: ("The job, with its frozen definition", JobView),
            **BODY_ERRORS,
            422: ("The job is invalid (schedule, definition, parameters); every problem", None),
            **SCHEDULER_ERRORS,
        },
        tags=("jobs",),
    ),
    Operation(
        method="GET",
        path="/api/jobs",
        operation_id="listJobs",
        summary="Jobs, newest first, each with its runs counted per status",
        parameters=(
            Parameter(
                "status",
                "query",
                "Only jobs in this status",
                {"enum": [s.value for s in JobStatus]},
            ),
            Parameter("pipeline_uuid", "query", "Only this pipeline's jobs"),
            Parameter("project_uuid", "query", "Only this project's jobs"),
            LIMIT,
            OFFSET,
        ),
        responses={200: ("A page of jobs", JobList), 422: ("Bad query parameter", None)},
        tags=("jobs",),
    ),
    Operation(
        method="GET",
        path="/api/jobs/{job_uuid}",
        operation_id="getJob",
        summary="A job: its runs counted per status, its next scheduled time, its definition",
        parameters=(JOB,),
        responses={200: ("The job", JobView), **JOB_ERRORS},
        tags=("jobs",),
    ),
    Operation(
        method="PUT",
        path="/api/jobs/{job_uuid}",
        operation_id="updateJob",
        summary="Change a job: rename, cron, parameters, confirm a draft, pause, resume",
        parameters=(JOB,),
        request_body=jobs_api.JobUpdate,
        responses={
            200: ("The job after the change", JobView),
            **BODY_ERRORS,
            **JOB_ERRORS,
            409: ("The job cannot change so (it ended)", None),
            422: ("The change is invalid; every problem listed", None),
            **SCHEDULER_ERRORS,
        },
        tags=("jobs",),
    ),
    Operation(
        method="DELETE",
        path="/api/jobs/{job_uuid}",
        operation_id="cancelJob",
        summary="Cancel a job: no more executions, live runs aborted, history kept",
        parameters=(JOB,),
        responses={
            200: ("The job after the cancel", JobView),
            **JOB_ERRORS,
            **SCHEDULER_ERRORS,
        },
        tags=("jobs",),
    ),
    Operation(
        method="POST",
        path="/api/jobs/{job_uuid}/trigger",
        operation_id="triggerJob",
        summary="One execution of the job now, whatever its schedule",
        parameters=(JOB,),
        responses={
            200: ("The job after the trigger", JobView),
            **JOB_ERRORS,
            409: ("The job cannot run (cancelled, ended or a draft)", None),
            **SCHEDULER_ERRORS,
        },
        tags=("jobs",),
    ),
    Operation(
        method="GET",
        path="/api/jobs/{job_uuid}/runs",
        operation_id="listJobRuns",
        summary="A job's runs, the latest execution first, in parameter-set order",
        parameters=(JOB, RUN_STATUS, LIMIT, OFFSET),
        responses={
            200: ("A page of the job's runs", RunList),
            **JOB_ERRORS,
            422: ("Bad query parameter", None),
        },
        tags=("jobs",),
    ),
    Operation(
        method="DELETE",
        path="/api/jobs/{job_uuid}/runs/{run_uuid}",
        operation_id="abortJobRun",
        summary="Abort one run of a job (the job goes on)",
        parameters=(JOB, RUN),
        responses={
            200: ("The run after the abort", RunView),
            404: ("No such job, or no such run of it", None),
            **SCHEDULER_ERRORS,
        },
        tags=("jobs",),
    ),
)

OPERATIONS += schedules_api.OPERATIONS

OPERATIONS += sessions_api.OPERATIONS + projects_api.OPERATIONS + project_files_api.OPERATIONS

_HANDLERS = {
    **sessions_api.HANDLERS,
    **projects_api.HANDLERS,
    **project_files_api.HANDLERS,
    **schedules_api.HANDLERS,
    "getHealth": get_health,
    "getOpenApi": get_openapi,
    "ping": ping,
    "createRun": runs_api.create_run,
    "listRuns": runs_api.list_runs,
    "getRun": runs_api.get_run,
    "abortRun": runs_api.abort_run,
    "listRunAttempts": runs_api.list_attempts,
    "getRunStep": runs_api.get_step,
    "getRunStepLogs": logs_api.step_logs,
    "getRunStepArtifact": runs_api.get_artifact,
    "streamEvents": events_api.events,
    "createJob": jobs_api.create_job,
    "listJobs": jobs_api.list_jobs,
    "getJob": jobs_api.get_job,
    "updateJob": jobs_api.update_job,
    "cancelJob": jobs_api.cancel_job,
    "triggerJob": jobs_api.trigger_job,
    "listJobRuns": jobs_api.list_job_runs,
    "abortJobRun": jobs_api.abort_job_run,
}


def create_app(deps: GatewayDeps) -> Starlette:
    routes = [Route(op.path, _HANDLERS[op.operation_id], methods=[op.method]) for op in OPERATIONS]
    routes += [  # the interactive reference: a page, not an operation of the document
        Route(DOCS_PATH, docs_page, methods=["GET", "HEAD"], include_in_schema=False),
        Route(DOCS_PATH + "/{name}", docs_asset, methods=["GET", "HEAD"], include_in_schema=False),
    ]
    # Last: every path no API route matched (the dashboard's, or the API's 404).
    routes.append(
        Route(
            "/{path:path}",
            DashboardFiles(deps.settings.dashboard_dir).serve,
            methods=["GET", "HEAD"],
            include_in_schema=False,
        )
    )
    checker = TokenChecker(deps.settings.tokens)
    app = Starlette(
        routes=routes,
        exception_handlers=dict(EXCEPTION_HANDLERS),
        middleware=[Middleware(BearerAuth, checker=checker)],
    )
    app.state.deps = deps
    app.state.openapi = build_document(
        OPERATIONS,
        title=API_TITLE,
        version=deps.version,
        description=API_DESCRIPTION,
        auth=Auth(OPEN_PATHS, QUERY_TOKEN_PATHS) if checker.enabled else None,
        examples=EXAMPLES,
    )
    return app


def _dispatch(handlers: dict[str, Any]) -> Any:
    """One endpoint per path: Starlette matches a path once, so the methods
    of a path share a route."""
    if len(handlers) == 1:
        return next(iter(handlers.values()))

    async def endpoint(request: Request) -> Response:
        response: Response = await handlers[request.method](request)
        return response

    return endpoint
