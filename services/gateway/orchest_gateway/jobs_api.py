"""``/api/jobs``: create, list, read, change, trigger and cancel jobs; a job's
runs. Changes are the scheduler's commands; reads come from its tables."""

from __future__ import annotations

import uuid

from pydantic import BaseModel
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
from orchest_schemas.status import JobStatus, RunStatus
from orchest_service.commands import request_command_json

from . import job_reads
from .body import query_choice, query_int, query_text, read_json
from .deps import deps_of
from .errors import ApiError
from .limits import job_limits, job_update_limits
from .runs_api import path_uuid


class JobUpdate(UpdateJob):
    """The body of ``PUT /api/jobs/{job_uuid}``: the fields of ``UpdateJob``
    (those left out stay as they are). The job is the path's; a ``job_uuid``
    in the body must name the same one."""

    job_uuid: str | None = None  # type: ignore[assignment]


async def forward_command(
    request: Request, subject: str, command: BaseModel, status: int
) -> Response:
    """Send a command to its owner; the answer goes out as it came."""
    deps = deps_of(request)
    reply = await request_command_json(
        deps.nc, subject, command, timeout=deps.settings.command_timeout_seconds
    )
    return Response(reply, status_code=status, media_type="application/json")


async def create_job(request: Request) -> Response:
    deps = deps_of(request)
    command = await read_json(request, CreateJob, deps.settings, job_limits(deps.settings))
    return await forward_command(request, deps.bus.create_job, command, 201)


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
    return await forward_command(request, deps.bus.update_job, command, 200)


async def trigger_job(request: Request) -> Response:
    job_uuid = path_uuid(request, "job_uuid", "job")
    command = TriggerJob(job_uuid=job_uuid)
    return await forward_command(request, deps_of(request).bus.trigger_job, command, 200)


async def cancel_job(request: Request) -> Response:
    job_uuid = path_uuid(request, "job_uuid", "job")
    command = CancelJob(job_uuid=job_uuid)
    return await forward_command(request, deps_of(request).bus.cancel_job, command, 200)


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
    return await forward_command(request, deps_of(request).bus.abort_job_run, command, 200)
