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
from .openapi import BODY_ERRORS, LIMIT, OFFSET, Operation, OperationGroup, Parameter
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

JOBS = OperationGroup("/api/jobs", ("jobs",))

OPERATIONS: tuple[Operation, ...] = (
    JOBS(
        "POST",
        "",
        "createJob",
        "Create a job: a pipeline run once per parameter set, now, at a time or on a cron",
        {
            404: ("By reference: no such project, or no such pipeline in it", None),
            201: ("The job, with its frozen definition", JobView),
            422: ("The job is invalid (schedule, definition, parameters); every problem", None),
            **BODY_ERRORS,
            **SCHEDULER_ERRORS,
        },
        request_body=CreateJob,
    ),
    JOBS(
        "GET",
        "",
        "listJobs",
        "Jobs, newest first, each with its runs counted per status",
        {200: ("A page of jobs", JobList), 422: ("Bad query parameter", None)},
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
    ),
    JOBS(
        "GET",
        "/{job_uuid}",
        "getJob",
        "A job: its runs counted per status, its next scheduled time, its definition",
        {200: ("The job", JobView), **JOB_ERRORS},
        parameters=(JOB,),
    ),
    JOBS(
        "PUT",
        "/{job_uuid}",
        "updateJob",
        "Change a job: rename, cron, parameters, confirm a draft, pause, resume",
        {
            200: ("The job after the change", JobView),
            409: ("The job cannot change so (it ended)", None),
            422: ("The change is invalid; every problem listed", None),
            **BODY_ERRORS,
            **JOB_ERRORS,
            **SCHEDULER_ERRORS,
        },
        parameters=(JOB,),
        request_body=JobUpdate,
    ),
    JOBS(
        "DELETE",
        "/{job_uuid}",
        "cancelJob",
        "Cancel a job: no more executions, live runs aborted, history kept",
        {200: ("The job after the cancel", JobView), **JOB_ERRORS, **SCHEDULER_ERRORS},
        parameters=(JOB,),
    ),
    JOBS(
        "POST",
        "/{job_uuid}/trigger",
        "triggerJob",
        "One execution of the job now, whatever its schedule",
        {
            200: ("The job after the trigger", JobView),
            409: ("The job cannot run (cancelled, ended or a draft)", None),
            **JOB_ERRORS,
            **SCHEDULER_ERRORS,
        },
        parameters=(JOB,),
    ),
    JOBS(
        "GET",
        "/{job_uuid}/runs",
        "listJobRuns",
        "A job's runs, the latest execution first, in parameter-set order",
        {
            200: ("A page of the job's runs", RunList),
            422: ("Bad query parameter", None),
            **JOB_ERRORS,
        },
        parameters=(JOB, RUN_STATUS, LIMIT, OFFSET),
    ),
    JOBS(
        "DELETE",
        "/{job_uuid}/runs/{run_uuid}",
        "abortJobRun",
        "Abort one run of a job (the job goes on)",
        {
            200: ("The run after the abort", RunView),
            404: ("No such job, or no such run of it", None),
            **SCHEDULER_ERRORS,
        },
        parameters=(JOB, RUN),
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
