"""The OpenAPI document, generated from the routes and the schema models.

Each route declares its operation (summary, request model, a model per
response status); ``build_document`` turns the models into
``components/schemas`` with pydantic's JSON Schema generator, so the
document never drifts from what the handlers validate and return.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from orchest_schemas.errors import ErrorBody

from .auth import QUERY_TOKEN

REF_TEMPLATE = "#/components/schemas/{model}"
_RAW_SCHEMA: dict[str, dict[str, str]] = {
    "text/plain": {"type": "string"},
    "application/octet-stream": {"type": "string", "format": "binary"},
}
"""The schema of a body that is not JSON, by media type. An event stream
has none: its events are described in the API's docs (``events_api``)."""


@dataclass(frozen=True)
class Parameter:
    name: str
    location: Literal["query", "path", "header"]
    description: str
    schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "string"})
    required: bool = False


LIMIT = Parameter("limit", "query", "Page size (1-500)", {"type": "integer", "default": 50})
OFFSET = Parameter("offset", "query", "Items to skip", {"type": "integer", "default": 0})
BODY_ERRORS: dict[int, tuple[str, None]] = {
    400: ("The body is not JSON", None),
    413: ("The body is too large", None),
}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str
    summary: str
    responses: Mapping[int, tuple[str, type[BaseModel] | None]]
    """Status -> (description, body model); error statuses default to ``ErrorBody``."""
    request_body: type[BaseModel] | None = None
    parameters: tuple[Parameter, ...] = ()
    tags: tuple[str, ...] = ()
    content_type: str = "application/json"
    other_content_types: tuple[str, ...] = ()
    """Further media types of the success body (e.g. an artifact's own)."""


Answers = Mapping[int, tuple[str, type[BaseModel] | None]]


@dataclass(frozen=True)
class OperationGroup:
    """What a module's operations share: their paths' prefix, their tags and
    the answers every one of them gives (an operation adds its own, and may
    word one of them its way)."""

    base: str
    tags: tuple[str, ...]
    answers: Answers = field(default_factory=dict)

    def __call__(
        self,
        method: str,
        path: str,
        operation_id: str,
        summary: str,
        answers: Answers,
        *,
        parameters: tuple[Parameter, ...] = (),
        request_body: type[BaseModel] | None = None,
        content_type: str = "application/json",
        other_content_types: tuple[str, ...] = (),
    ) -> Operation:
        return Operation(
            method=method,
            path=self.base + path,
            operation_id=operation_id,
            summary=summary,
            responses={**self.answers, **answers},
            request_body=request_body,
            parameters=parameters,
            tags=self.tags,
            content_type=content_type,
            other_content_types=other_content_types,
        )


@dataclass(frozen=True)
class Auth:
    """Bearer-token auth is on: which paths are open (to ``GET``), which
    also take the token as a query parameter."""

    open_paths: frozenset[str]
    query_paths: frozenset[str]


BEARER = "bearerAuth"
QUERY_KEY = "queryToken"
SECURITY_SCHEMES: dict[str, Any] = {
    BEARER: {
        "type": "http",
        "scheme": "bearer",
        "description": "`Authorization: Bearer <token>`, one of `ORCHEST_API_TOKENS`;"
        " required on every operation but `ping` when tokens are configured",
    },
    QUERY_KEY: {
        "type": "apiKey",
        "in": "query",
        "name": QUERY_TOKEN,
        "description": "The same token as a query parameter, for EventSource clients"
        " (`streamEvents` only)",
    },
}


def build_document(
    operations: Iterable[Operation],
    *,
    title: str,
    version: str,
    description: str,
    auth: Auth | None = None,
    examples: Mapping[type[BaseModel], Any] | None = None,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``operations``; with ``auth``, each
    operation names the tokens it needs and documents its 401; ``examples``
    (JSON by model) go beside the schemas of the request bodies and success
    responses of their models."""

    ops = list(operations)
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ErrorBody, "serialization")]
    for op in ops:
        if op.request_body is not None:
            wanted.append((op.request_body, "validation"))
        for _, model in op.responses.values():
            if model is not None:
                wanted.append((model, "serialization"))
    unique = list(dict.fromkeys(wanted))
    refs, schemas = models_json_schema(unique, ref_template=REF_TEMPLATE)

    def ref(model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        return dict(refs[(model, mode)])

    def content(model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        media: dict[str, Any] = {"schema": ref(model, mode)}
        if examples and model in examples:
            media["example"] = examples[model]
        return media

    paths: dict[str, dict[str, Any]] = {}
    for op in ops:
        responses: dict[str, Any] = {}
        declared = dict(op.responses)
        protected = auth is not None and not (op.method == "GET" and op.path in auth.open_paths)
        if protected:
            declared[401] = ("No valid bearer token", None)
        for status, (text, model) in sorted(declared.items()):
            entry: dict[str, Any] = {"description": text}
            if status >= 400:
                # Errors are JSON whatever the operation answers otherwise.
                body = ref(model or ErrorBody, "serialization")
                entry["content"] = {"application/json": {"schema": body}}
            elif model is not None:
                entry["content"] = {op.content_type: content(model, "serialization")}
            elif op.content_type != "application/json" and status != 204:
                entry["content"] = {
                    media: {"schema": _RAW_SCHEMA[media]} if media in _RAW_SCHEMA else {}
                    for media in (op.content_type, *op.other_content_types)
                }
            responses[str(status)] = entry
        operation: dict[str, Any] = {
            "operationId": op.operation_id,
            "summary": op.summary,
            "responses": responses,
        }
        if op.tags:
            operation["tags"] = list(op.tags)
        if auth is not None:
            operation["security"] = _security(op, auth) if protected else []
        if op.parameters:
            operation["parameters"] = [
                {
                    "name": p.name,
                    "in": p.location,
                    "description": p.description,
                    "required": p.required or p.location == "path",
                    "schema": dict(p.schema),
                }
                for p in op.parameters
            ]
        if op.request_body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": content(op.request_body, "validation")},
            }
        paths.setdefault(op.path, {})[op.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "paths": paths,
        "components": {
            "schemas": schemas.get("$defs", {}),
            "securitySchemes": SECURITY_SCHEMES,
        },
    }


def _security(op: Operation, auth: Auth) -> list[dict[str, list[str]]]:
    """Either scheme satisfies the operation (a list of alternatives)."""
    if op.path in auth.query_paths:
        return [{BEARER: []}, {QUERY_KEY: []}]
    return [{BEARER: []}]
