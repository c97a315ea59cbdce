"""Reading a JSON request body: size limit, syntax, duplicate keys, schema.

Every problem found is reported at once: a key given twice anywhere in the
document (JSON parsers silently keep the last one, which would hide a
duplicate step uuid), then every schema problem pydantic finds.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from orchest_runtime.commands import validation_details
from orchest_schemas.errors import ErrorDetail

from .errors import ApiError

ModelT = TypeVar("ModelT", bound=BaseModel)
EnumT = TypeVar("EnumT", bound=StrEnum)


class _Object(dict[str, Any]):
    duplicates: list[str]


def _object(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object()
    obj.duplicates = []
    for key, value in pairs:
        if key in obj:
            obj.duplicates.append(key)
        obj[key] = value
    return obj


def _duplicate_keys(node: Any, loc: list[str | int]) -> list[ErrorDetail]:
    found: list[ErrorDetail] = []
    if isinstance(node, _Object):
        for key in dict.fromkeys(node.duplicates):
            found.append(
                ErrorDetail(
                    loc=[*loc, key],
                    msg=f"key {key!r} appears more than once",
                    type="duplicate_key",
                )
            )
        for key, value in node.items():
            found += _duplicate_keys(value, [*loc, key])
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _duplicate_keys(value, [*loc, index])
    return found


async def read_json(request: Request, model: type[ModelT], max_bytes: int) -> ModelT:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise ApiError(413, f"request body larger than {max_bytes} bytes")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > max_bytes:
            raise ApiError(413, f"request body larger than {max_bytes} bytes")
    try:
        document = json.loads(raw, object_pairs_hook=_object)
    except (ValueError, RecursionError) as exc:
        raise ApiError(
            400,
            "request body is not valid JSON",
            [ErrorDetail(loc=[], msg=str(exc), type="json_invalid")],
        ) from None
    problems = _duplicate_keys(document, [])
    try:
        value = model.model_validate(document)
    except ValidationError as exc:
        problems += validation_details(exc)
        value = None
    if problems or value is None:
        raise ApiError(422, f"invalid {model.__name__}: {len(problems)} problem(s)", problems)
    return value


def query_int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise ApiError(
            422,
            f"invalid query parameter {name!r}",
            [
                ErrorDetail(
                    loc=["query", name],
                    msg=f"must be an integer from {low} to {high}",
                    type="query_invalid",
                )
            ],
        )
    return value


def query_bool(request: Request, name: str) -> bool:
    """An optional boolean query parameter (``true``/``false``, ``1``/``0``,
    ``yes``/``no``, any case); left out, it is false."""
    raw = request.query_params.get(name)
    if raw is None:
        return False
    value = raw.lower()
    if value not in ("true", "false", "1", "0", "yes", "no"):
        raise ApiError(
            422,
            f"invalid query parameter {name!r}",
            [ErrorDetail(loc=["query", name], msg="must be true or false", type="query_invalid")],
        )
    return value in ("true", "1", "yes")


def query_choice(request: Request, name: str, choices: type[EnumT]) -> EnumT | None:
    """An optional query parameter naming one of ``choices`` (any case)."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        return choices(raw.upper())
    except ValueError:
        raise ApiError(
            422,
            f"invalid query parameter {name!r}",
            [
                ErrorDetail(
                    loc=["query", name],
                    msg="must be one of " + ", ".join(c.value for c in choices),
                    type="query_invalid",
                )
            ],
        ) from None
