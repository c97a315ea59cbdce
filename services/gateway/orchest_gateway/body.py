"""Reading a JSON request body: size limit, syntax, what JSON allows but
storage does not, duplicate keys, schema, limits.

Every problem found is reported at once: a key given twice anywhere in the
document (JSON parsers silently keep the last one, which would hide a
duplicate step uuid), a string holding U+0000 (Postgres text and jsonb cannot
hold it) or half of a surrogate pair (not encodable as UTF-8), nesting deeper
than ``ORCHEST_MAX_JSON_DEPTH``, then every schema problem pydantic finds and
every limit the endpoint's ``check`` finds. ``NaN`` and ``Infinity``, which
Python's parser takes, are not JSON: 400.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import StrEnum
from typing import Any, NoReturn, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from orchest_runtime.commands import validation_details
from orchest_schemas.errors import ErrorDetail

from .errors import ApiError
from .settings import GatewaySettings

ModelT = TypeVar("ModelT", bound=BaseModel)
EnumT = TypeVar("EnumT", bound=StrEnum)
Check = Callable[[Any], list[ErrorDetail]]
"""Further problems of a parsed document (limits), listed with the others."""
Loc = list[str | int]
MAX_LISTED = 1000
"""At most this many problems are listed in one answer (the message counts all)."""


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


def _not_json(constant: str) -> NoReturn:
    raise ValueError(f"{constant} is not a JSON value")


def _text_problem(text: str, loc: Loc, what: str) -> ErrorDetail | None:
    if "\x00" in text:
        return ErrorDetail(
            loc=loc, msg=f"{what} contains the character U+0000", type="null_character"
        )
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return ErrorDetail(
                loc=loc, msg=f"{what} contains half of a surrogate pair", type="invalid_unicode"
            )
    return None


def scan(document: Any, max_depth: int) -> tuple[list[ErrorDetail], bool]:
    """The problems of a parsed document that no schema sees, and whether it
    nests deeper than ``max_depth`` (then nothing below that depth is read).
    Iterative: a deep document cannot exhaust the stack."""
    found: list[ErrorDetail] = []
    too_deep = False
    stack: list[tuple[Any, Loc]] = [(document, [])]
    while stack:
        node, loc = stack.pop()
        if isinstance(node, str):
            problem = _text_problem(node, loc, "the string")
            if problem is not None:
                found.append(problem)
            continue
        if not isinstance(node, dict | list):
            continue
        if len(loc) >= max_depth:
            if not too_deep:
                found.append(
                    ErrorDetail(
                        loc=loc,
                        msg=f"nested deeper than {max_depth} levels",
                        type="too_deep",
                    )
                )
            too_deep = True
            continue
        if isinstance(node, list):
            stack.extend((value, [*loc, index]) for index, value in enumerate(node))
            continue
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
            problem = _text_problem(key, [*loc, key], "the key")
            if problem is not None:
                found.append(problem)
            stack.append((value, [*loc, key]))
    found.sort(key=lambda e: [str(part) for part in e.loc])
    return found, too_deep


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The whole body, refused with 413 once larger than ``max_bytes``."""
    declared = request.headers.get("content-length")
    if declared and declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
        raise ApiError(413, f"request body larger than {max_bytes} bytes")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > max_bytes:
            raise ApiError(413, f"request body larger than {max_bytes} bytes")
    return bytes(raw)


def parse_json(raw: bytes) -> Any:
    """The document, keys given twice remembered; 400 unless it is JSON."""
    try:
        return json.loads(raw, object_pairs_hook=_object, parse_constant=_not_json)
    except (ValueError, RecursionError) as exc:
        raise ApiError(
            400,
            "request body is not valid JSON",
            [ErrorDetail(loc=[], msg=str(exc), type="json_invalid")],
        ) from None


async def read_json(
    request: Request,
    model: type[ModelT],
    settings: GatewaySettings,
    check: Check | None = None,
) -> ModelT:
    """The body as ``model``, or a 400/413/422 listing every problem."""
    document = parse_json(await read_body(request, settings.max_body_bytes))
    problems, too_deep = scan(document, settings.max_json_depth)
    value: ModelT | None = None
    if not too_deep:
        try:
            value = model.model_validate(document)
        except ValidationError as exc:
            problems += validation_details(exc)
        if check is not None:
            problems += check(document)
    if problems or value is None:
        message = f"invalid {model.__name__}: {len(problems)} problem(s)"
        if len(problems) > MAX_LISTED:
            message += f", the first {MAX_LISTED} listed"
        raise ApiError(422, message, problems[:MAX_LISTED])
    return value


def query_text(request: Request, name: str) -> str | None:
    """An optional free-text query parameter (a filter); 422 if it holds U+0000."""
    raw = request.query_params.get(name)
    if raw is not None:
        problem = _text_problem(raw, ["query", name], "the value")
        if problem is not None:
            raise ApiError(422, f"invalid query parameter {name!r}", [problem])
    return raw


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
