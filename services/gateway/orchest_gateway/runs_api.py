"""``/api/runs``: start, list, read and abort runs; a step's artifacts."""

from __future__ import annotations

import uuid

from nats.js.errors import NotFoundError, ObjectNotFoundError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from orchest_schemas.commands import AbortRun, CreateRun
from orchest_schemas.runs import AttemptList, RunList, RunView, StepView
from orchest_schemas.status import RunStatus

from . import reads
from .attempts import fold_attempts
from .body import query_choice, query_int, query_text, query_uuid, read_encoded
from .deps import deps_of
from .errors import ApiError
from .limits import run_limits
from .openapi import LIMIT, OFFSET, Operation, OperationGroup, Parameter
from .owners import ask, forward_encoded


def path_uuid(request: Request, name: str, what: str) -> str:
    """A uuid from the path; a malformed one names nothing: 404."""
    raw = request.path_params[name]
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise ApiError(404, f"no {what} {raw}") from None


def _json(model: RunView, status: int = 200) -> Response:
    return JSONResponse(model.model_dump(mode="json"), status_code=status)


async def create_run(request: Request) -> Response:
    deps = deps_of(request)
    _, encoded = await read_encoded(
        request, CreateRun, deps.settings, run_limits(deps.settings), deps.accepted_runs
    )
    # The command's JSON made once per body kept; the scheduler's RunView
    # goes out as it came: no second parse and dump.
    return await forward_encoded(request, encoded, deps.bus.create_run, 201)


async def list_runs(request: Request) -> Response:
    deps = deps_of(request)
    runs = await reads.list_runs(
        deps.pool,
        pipeline_uuid=query_text(request, "pipeline_uuid"),
        job_uuid=query_uuid(request, "job_uuid"),
        status=query_choice(request, "status", RunStatus),
        limit=query_int(request, "limit", 50, 1, 500),
        offset=query_int(request, "offset", 0, 0, 10**9),
    )
    return JSONResponse(runs.model_dump(mode="json"))


async def get_run(request: Request) -> Response:
    deps = deps_of(request)
    run_uuid = path_uuid(request, "run_uuid", "run")
    run = await reads.get_run(deps.pool, run_uuid)
    if run is None:
        raise ApiError(404, f"no run {run_uuid}")
    return _json(run)


async def abort_run(request: Request) -> Response:
    deps = deps_of(request)
    run_uuid = path_uuid(request, "run_uuid", "run")
    return _json(await ask(request, deps.bus.abort_run, AbortRun(run_uuid=run_uuid), RunView))


async def list_attempts(request: Request) -> Response:
    deps = deps_of(request)
    run_uuid = path_uuid(request, "run_uuid", "run")
    step_uuid = query_text(request, "step_uuid")
    events = await reads.step_events(deps.pool, run_uuid)
    if events is None:
        raise ApiError(404, f"no run {run_uuid}")
    attempts = fold_attempts(run_uuid, events)
    if step_uuid is not None:
        kept = [a for a in attempts.attempts if a.step_uuid == step_uuid]
        attempts = attempts.model_copy(update={"attempts": kept})
    return JSONResponse(attempts.model_dump(mode="json"))


async def step_of_path(request: Request) -> StepView:
    """The step the path names (``run_uuid``, ``step_uuid``), else 404."""
    run_uuid = path_uuid(request, "run_uuid", "run")
    step_uuid = request.path_params["step_uuid"]
    # U+0000 names no step (and Postgres text cannot hold it).
    step = (
        None
        if "\x00" in step_uuid
        else await reads.get_step(deps_of(request).pool, run_uuid, step_uuid)
    )
    if step is None:
        raise ApiError(404, f"no step {step_uuid} in run {run_uuid}")
    return step


async def get_step(request: Request) -> Response:
    step = await step_of_path(request)
    return JSONResponse(step.model_dump(mode="json"))


async def get_artifact(request: Request) -> Response:
    deps = deps_of(request)
    step = await step_of_path(request)
    run_uuid, step_uuid = step.run_uuid, step.step_uuid
    name = request.path_params["name"]
    attempt = query_int(request, "attempt", step.attempt, 1, 10**6)
    try:
        key = deps.bus.artifact_key(run_uuid, step_uuid, attempt, name)
        store = await deps.artifacts()
        result = await store.get(key)
    except (ValueError, NotFoundError, ObjectNotFoundError):
        raise ApiError(404, f"no artifact {name!r} of attempt {attempt}") from None
    media = "application/x-ipynb+json" if name.endswith(".ipynb") else "application/octet-stream"
    return Response(result.data or b"", media_type=media)


# -- the runs' operations (the OpenAPI document and the routes: ``app.py``)

RUN = Parameter("run_uuid", "path", "The run's uuid")
STEP = Parameter("step_uuid", "path", "The step's uuid")
RUN_ERRORS: dict[int, tuple[str, None]] = {404: ("No such run", None)}
RUN_STATUS = Parameter(
    "status",
    "query",
    "Only runs in this status",
    {"enum": ["PENDING", "STARTED", "SUCCESS", "FAILURE", "ABORTED"]},
)

RUNS = OperationGroup("/api/runs", ("runs",))

OPERATIONS: tuple[Operation, ...] = (
    RUNS(
        "POST",
        "",
        "createRun",
        "Start an interactive run (full or partial) of a pipeline",
        {
            404: ("By reference: no such project, or no such pipeline in it", None),
            201: ("The run, with a row for each step it will run", RunView),
            400: ("The body is not JSON", None),
            413: ("The body is too large", None),
            422: ("The definition or the request is invalid; every problem listed", None),
            503: ("The scheduler did not answer", None),
        },
        request_body=CreateRun,
    ),
    RUNS(
        "GET",
        "",
        "listRuns",
        "Runs, newest first",
        {
            200: ("A page of runs", RunList),
            422: ("Bad query parameter (a job_uuid that is not a uuid)", None),
        },
        parameters=(
            Parameter("pipeline_uuid", "query", "Only this pipeline's runs"),
            Parameter(
                "job_uuid", "query", "Only this job's runs", {"type": "string", "format": "uuid"}
            ),
            RUN_STATUS,
            LIMIT,
            OFFSET,
        ),
    ),
    RUNS(
        "GET",
        "/{run_uuid}",
        "getRun",
        "A run and its steps",
        {200: ("The run", RunView), **RUN_ERRORS},
        parameters=(RUN,),
    ),
    RUNS(
        "DELETE",
        "/{run_uuid}",
        "abortRun",
        "Abort a run: running steps are killed, unfinished steps ABORTED (idempotent)",
        {200: ("The run after the abort", RunView), **RUN_ERRORS},
        parameters=(RUN,),
    ),
    RUNS(
        "GET",
        "/{run_uuid}/attempts",
        "listRunAttempts",
        "Every attempt of the run's steps (status, exit code, error, times), as made",
        {
            200: ("The run's attempts", AttemptList),
            422: ("Bad query parameter", None),
            **RUN_ERRORS,
        },
        parameters=(RUN, Parameter("step_uuid", "query", "Only this step's attempts")),
    ),
    RUNS(
        "GET",
        "/{run_uuid}/steps/{step_uuid}",
        "getRunStep",
        "One step of a run",
        {200: ("The step", StepView), 404: ("No such run or step", None)},
        parameters=(RUN, STEP),
    ),
    RUNS(
        "GET",
        "/{run_uuid}/steps/{step_uuid}/artifacts/{name}",
        "getRunStepArtifact",
        "An artifact of a step attempt (the executed notebook: executed.ipynb)",
        {
            200: ("The artifact's bytes", None),
            404: ("No such artifact", None),
            422: ("Bad query parameter", None),
        },
        parameters=(
            RUN,
            STEP,
            Parameter("name", "path", "The artifact's name"),
            Parameter("attempt", "query", "The attempt [default: the latest]", {"type": "integer"}),
        ),
        content_type="application/octet-stream",
        other_content_types=("application/x-ipynb+json",),
    ),
)

HANDLERS = {
    "createRun": create_run,
    "listRuns": list_runs,
    "getRun": get_run,
    "abortRun": abort_run,
    "listRunAttempts": list_attempts,
    "getRunStep": get_step,
    "getRunStepArtifact": get_artifact,
}
