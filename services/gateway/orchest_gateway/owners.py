"""Commands to the services that own the data, sent with the gateway's
timeout: the answer parsed (``ask``), passed on as it came (``forward``), or
a versioned document passed on with its etag as the ``ETag`` header
(``forward_versioned``)."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from orchest_schemas.projects import FileContent, PipelineDocument
from orchest_service.commands import request_command, request_command_json, request_json

from .deps import deps_of

ModelT = TypeVar("ModelT", bound=BaseModel)
VersionedT = TypeVar("VersionedT", PipelineDocument, FileContent)


async def ask(request: Request, subject: str, command: BaseModel, model: type[ModelT]) -> ModelT:
    """The owner's answer to ``command``, as ``model``."""
    deps = deps_of(request)
    return await request_command(
        deps.nc, subject, command, model, timeout=deps.settings.command_timeout_seconds
    )


async def forward(
    request: Request, command: BaseModel, subject: str, status: int = 200
) -> Response:
    """The owner's answer to ``command``, passed on as it came (no second parse and dump)."""
    deps = deps_of(request)
    reply = await request_command_json(
        deps.nc, subject, command, timeout=deps.settings.command_timeout_seconds
    )
    return Response(reply, status_code=status, media_type="application/json")


async def forward_encoded(request: Request, payload: bytes, subject: str, status: int) -> Response:
    """``forward`` of a command given as its JSON (``body.read_encoded``)."""
    deps = deps_of(request)
    reply = await request_json(
        deps.nc, subject, payload, timeout=deps.settings.command_timeout_seconds
    )
    return Response(reply, status_code=status, media_type="application/json")


async def forward_versioned(
    request: Request, command: BaseModel, subject: str, model: type[VersionedT], status: int = 200
) -> Response:
    """A document read or written by ``command``, its etag also as the ``ETag`` header."""
    document = await ask(request, subject, command, model)
    return Response(
        document.model_dump_json(),
        status_code=status,
        media_type="application/json",
        headers={"ETag": f'"{document.etag}"'},
    )


def json_response(model: BaseModel, status: int = 200) -> Response:
    return Response(model.model_dump_json(), status_code=status, media_type="application/json")
