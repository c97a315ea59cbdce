"""``/api/schedules/preview``: when a cron schedule would fire next.

The scheduler answers (``PreviewSchedule``), by the same rules and the same
clock it fires jobs by, so what a form shows before saving is what the job
will do. Every problem of the query is listed at once; the scheduler's
verdict on the expression is located at the query parameter.
"""

from __future__ import annotations

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from orchest_schemas.commands import PreviewSchedule
from orchest_schemas.errors import ErrorDetail
from orchest_schemas.jobs import SchedulePreview
from orchest_service.commands import validation_details
from orchest_service.errors import CommandError

from .deps import deps_of
from .errors import ApiError
from .openapi import Operation, Parameter
from .owners import ask

QUERY_NAMES = {"cron_schedule": "cron", "count": "count"}
"""The command's fields by their query parameter's name."""


def _at_query(detail: ErrorDetail) -> ErrorDetail:
    field = str(detail.loc[0]) if detail.loc else "cron_schedule"
    return ErrorDetail(
        loc=["query", QUERY_NAMES.get(field, field)], msg=detail.msg, type=detail.type
    )


async def preview_schedule(request: Request) -> Response:
    deps = deps_of(request)
    query = request.query_params
    raw = {"cron_schedule": query.get("cron", ""), "count": query.get("count", 5)}
    try:
        command = PreviewSchedule.model_validate(raw)
    except ValidationError as exc:
        problems = [_at_query(d) for d in validation_details(exc)]
        raise ApiError(
            422, f"invalid schedule query: {len(problems)} problem(s)", problems
        ) from None
    try:
        preview = await ask(request, deps.bus.preview_schedule, command, SchedulePreview)
    except CommandError as exc:
        raise ApiError(
            exc.code.http_status, exc.message, [_at_query(d) for d in exc.errors]
        ) from None
    return JSONResponse(preview.model_dump(mode="json"))


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        method="GET",
        path="/api/schedules/preview",
        operation_id="previewSchedule",
        summary="The next firing times of a cron schedule (five fields, UTC), as jobs fire",
        parameters=(
            Parameter(
                "cron", "query", "A cron expression: five fields, read in UTC", required=True
            ),
            Parameter(
                "count",
                "query",
                "How many firing times (1-50)",
                {"type": "integer", "default": 5, "minimum": 1, "maximum": 50},
            ),
        ),
        responses={
            200: ("The next firing times, earliest first", SchedulePreview),
            422: ("A bad expression or count; every problem listed", None),
            503: ("The scheduler did not answer", None),
        },
        tags=("jobs",),
    ),
)

HANDLERS = {"previewSchedule": preview_schedule}
