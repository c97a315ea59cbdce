"""The Starlette application: routes, their OpenAPI operations, error handlers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
from nats.aio.client import Client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orchest_schemas.health import HealthReport

from .errors import EXCEPTION_HANDLERS
from .health import health_report
from .openapi import Operation, build_document
from .settings import GatewaySettings

API_TITLE = "Orchest API"
API_DESCRIPTION = (
    "Runs data-science pipelines (DAGs of notebooks and scripts) as interactive runs, "
    "partial runs and jobs, and manages interactive Jupyter sessions. Every 4xx and 5xx "
    'answers {"message": ..., "errors": [...]}.'
)


@dataclass(frozen=True)
class GatewayDeps:
    """What the handlers use, kept on ``app.state.deps``."""

    settings: GatewaySettings
    nc: Client
    pool: asyncpg.Pool
    version: str


def _deps(request: Request) -> GatewayDeps:
    deps: GatewayDeps = request.app.state.deps
    return deps


def _json(model: Any, status: int = 200) -> Response:
    return JSONResponse(model.model_dump(mode="json"), status_code=status)


async def get_health(request: Request) -> Response:
    deps = _deps(request)
    report = await health_report(deps.nc, deps.pool, deps.settings)
    return _json(report, 200 if report.status == "ok" else 503)


async def get_openapi(request: Request) -> Response:
    document: dict[str, Any] = request.app.state.openapi
    return JSONResponse(document)


OPERATIONS = (
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
        path="/api/openapi.json",
        operation_id="getOpenApi",
        summary="This document",
        responses={200: ("The OpenAPI document", None)},
        tags=("system",),
    ),
)

_HANDLERS = {
    "getHealth": get_health,
    "getOpenApi": get_openapi,
}


def create_app(deps: GatewayDeps) -> Starlette:
    routes = [Route(op.path, _HANDLERS[op.operation_id], methods=[op.method]) for op in OPERATIONS]
    app = Starlette(routes=routes, exception_handlers=dict(EXCEPTION_HANDLERS))
    app.state.deps = deps
    app.state.openapi = build_document(
        OPERATIONS, title=API_TITLE, version=deps.version, description=API_DESCRIPTION
    )
    return app
