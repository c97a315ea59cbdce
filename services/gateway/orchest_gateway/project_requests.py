"""What the gateway's project operations share (``projects_api``,
``project_files_api``, ``environments_api``) beside the commands to the
projects owner (``owners``): the command's subject, the ``If-Match`` etag, a
body validated with every problem listed, the path parameters and answers
the OpenAPI document names."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from orchest_service.commands import validation_details

from .deps import deps_of
from .errors import ApiError
from .openapi import Parameter

ModelT = TypeVar("ModelT", bound=BaseModel)


def subject(request: Request, action: str) -> str:
    return deps_of(request).bus.project_command(action)


def project_of(request: Request) -> str:
    return str(request.path_params["project_uuid"])


def if_match_of(request: Request) -> str | None:
    """The ``If-Match`` etag (one; ``*`` means any version, as no header)."""
    raw = request.headers.get("if-match")
    if raw is None or raw.strip() == "*":
        return None
    value = raw.strip()
    if value.startswith("W/"):
        raise ApiError(400, "If-Match takes a strong etag, as GET returned it")
    if "," in value:
        raise ApiError(400, "If-Match takes one etag")
    return value.strip('"')


def validated(model: type[ModelT], values: dict[str, Any]) -> ModelT:
    """``model`` from path and body values; what is wrong is a 422 listing it all."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        problems = validation_details(exc)
        raise ApiError(
            422, f"invalid {model.__name__}: {len(problems)} problem(s)", problems
        ) from None


PROJECT = Parameter("project_uuid", "path", "The project's uuid")
IF_MATCH = Parameter("If-Match", "header", "The etag the change is based on (as GET returned it)")
NOT_FOUND = {404: ("No such project (or pipeline)", None)}
UNAVAILABLE = {503: ("The scheduler did not answer", None)}
BAD_REQUEST = {400: ("The body is not JSON, or If-Match is not one strong etag", None)}
INVALID = {422: ("Invalid path, query or body; every problem listed", None)}
TAGS = ("projects",)
