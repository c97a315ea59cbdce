"""The Starlette application: routes, their OpenAPI operations, error handlers."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orchest_schemas.health import HealthReport

from . import (
    environments_api,
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
from .openapi import Auth, Operation, OperationGroup, build_document
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


SYSTEM = OperationGroup("/api", ("system",))

OPERATIONS: tuple[Operation, ...] = (
    SYSTEM(
        "GET",
        "/health",
        "getHealth",
        "Live instances of every service, and the state of NATS and Postgres",
        {
            200: ("Every service has a live instance", HealthReport),
            503: ("Something is missing; `missing` and `errors` name it", HealthReport),
        },
    ),
    SYSTEM(
        "GET",
        "/ping",
        "ping",
        "Liveness of this gateway process (asks no other service)",
        {204: ("Alive", None)},
    ),
    SYSTEM(
        "GET", "/openapi.json", "getOpenApi", "This document", {200: ("The OpenAPI document", None)}
    ),
)

OPERATIONS += (
    runs_api.OPERATIONS + logs_api.OPERATIONS + events_api.OPERATIONS + jobs_api.OPERATIONS
)

OPERATIONS += schedules_api.OPERATIONS

OPERATIONS += (
    sessions_api.OPERATIONS
    + projects_api.OPERATIONS
    + project_files_api.OPERATIONS
    + environments_api.OPERATIONS
)

_HANDLERS = {
    **runs_api.HANDLERS,
    **logs_api.HANDLERS,
    **events_api.HANDLERS,
    **jobs_api.HANDLERS,
    **sessions_api.HANDLERS,
    **projects_api.HANDLERS,
    **project_files_api.HANDLERS,
    **environments_api.HANDLERS,
    **schedules_api.HANDLERS,
    "getHealth": get_health,
    "getOpenApi": get_openapi,
    "ping": ping,
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
