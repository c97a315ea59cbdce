"""``/api/jobs``: create, list, read, change, trigger and cancel jobs; a job's
runs. Changes are the scheduler's commands; reads come from its tables."""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from orchest_schemas.commands import (
    AbortJobRun,
    CancelJob,
    CreateJob,
    TriggerJob,
    UpdateJob,
)
from orchest_schemas.errors import ErrorDetail
from orchest_schemas.jobs import JobList, JobView
from orchest_schemas.runs import RunList, RunView
from orchest_schemas.status import JobStatus, RunStatus

from . import job_reads
from .body import query_choice, query_int, query_text, read_json
from .deps import deps_of
from .errors import ApiError
from .limits import job_limits, job_update_limits
from .openapi import BODY_ERRORS, LIMIT, OFFSET, Operation, Parameter
from .owners import forward
from .runs_api import RUN, RUN_STATUS, path_uuid


class JobUpdate(UpdateJob):
    """The body of ``PUT /api/jobs/{job_uuid}``: the fields of ``UpdateJob``
    (those left out stay as they are). The job is the path's; a ``job_uuid``
    in the body must name the same one."""

    job_uuid: str | None = None  # type: ignore[assignment]


async def create_job(request: Request) -> Response:
    deps = deps_of(request)
    command = await read_json(request, CreateJob, deps.settings, job_limits(deps.settings))
    return await forward(request, command, deps.bus.create_job, 201)


async def list_jobs(request: Request) -> Response:
    deps = deps_of(request)
    jobs = await job_reads.list_jobs(
        deps.pool,
        status=query_choice(request, "status", JobStatus),
        pipeline_uuid=query_text(request, "pipeline_uuid"),
        project_uuid=query_text(request, "project_uuid"),
        limit=query_int(request, "limit", 50, 1, 500),
        offset=query_int(request, "offset", 0, 0, 10**9),
    )
    return JSONResponse(jobs.model_dump(mode="json"))


async def get_job(request: Request) -> Response:
    job_uuid = path_uuid(request, "job_uuid", "job")
    job = await job_reads.get_job(deps_of(request).pool, job_uuid)
    if job is None:
        raise ApiError(404, f"no job {job_uuid}")
    return JSONResponse(job.model_dump(mode="json"))


def _same_uuid(a: str, b: str) -> bool:
    try:
        return uuid.UUID(a) == uuid.UUID(b)
    except ValueError:
        return False


async def update_job(request: Request) -> Response:
    deps = deps_of(request)
    job_uuid = path_uuid(request, "job_uuid", "job")
    body = await read_json(request, JobUpdate, deps.settings, job_update_limits(deps.settings))
    if body.job_uuid is not None and not _same_uuid(body.job_uuid, job_uuid):
        raise ApiError(
            422,
            "invalid JobUpdate: 1 problem(s)",
            [
                ErrorDetail(
                    loc=["job_uuid"],
                    msg=f"must be the path's job ({job_uuid}) or left out",
                    type="job_uuid_mismatch",
                )
            ],
        )
    changes = body.model_dump(exclude_unset=True, exclude={"job_uuid"})
    command = UpdateJob.model_validate({**changes, "job_uuid": job_uuid})
    return await forward(request, command, deps.bus.update_job, 200)


async def trigger_job(request: Request) -> Response:
    job_uuid = path_uuid(request, "job_uuid", "job")
    command = TriggerJob(job_uuid=job_uuid)
    return await forward(request, command, deps_of(request).bus.trigger_job, 200)


async def cancel_job(request: Request) -> Response:
    job_uuid = path_uuid(request, "job_uuid", "job")
    command = CancelJob(job_uuid=job_uuid)
    return await forward(request, command, deps_of(request).bus.cancel_job, 200)


async def list_job_runs(request: Request) -> Response:
    job_uuid = path_uuid(request, "job_uuid", "job")
    runs = await job_reads.list_job_runs(
        deps_of(request).pool,
        job_uuid,
        status=query_choice(request, "status", RunStatus),
        limit=query_int(request, "limit", 50, 1, 500),
        offset=query_int(request, "offset", 0, 0, 10**9),
    )
    if runs is None:
        raise ApiError(404, f"no job {job_uuid}")
    return JSONResponse(runs.model_dump(mode="json"))


async def abort_job_run(request: Request) -> Response:
    job_uuid = path_uuid(request, "job_uuid", "job")
    run_uuid = path_uuid(request, "run_uuid", "run")
    command = AbortJobRun(job_uuid=job_uuid, run_uuid=run_uuid)
    return await forward(request, command, deps_of(request).bus.abort_job_run, 200)


# -- the jobs' operations (the OpenAPI document and the routes: ``app.py``)

JOB = Parameter("job_uuid", "path", "The job's uuid")
JOB_ERRORS: dict[int, tuple[str, None]] = {404: ("No such job", None)}
SCHEDULER_ERRORS: dict[int, tuple[str, None]] = {503: ("The scheduler did not answer", None)}

OPERATIONS: tuple[Operation, ...] = (
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
        request_body=JobUpdate,
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

HANDLERS = {
    "createJob": create_job,
    "listJobs": list_jobs,
    "getJob": get_job,
    "updateJob": update_job,
    "cancelJob": cancel_job,
    "triggerJob": trigger_job,
    "listJobRuns": list_job_runs,
    "abortJobRun": abort_job_run,
}
