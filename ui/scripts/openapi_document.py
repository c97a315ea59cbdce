"""Prints the gateway's OpenAPI document (what ``GET /api/openapi.json``
answers), built from its routes and models with no server running, plus the
schemas of the events ``GET /api/events`` streams (an event stream has no
body schema in OpenAPI; the dashboard's types for them come from the same
models as the rest)."""

from __future__ import annotations

import json
import sys
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, models_json_schema
from pydantic_core import core_schema

from orchest_gateway.app import API_DESCRIPTION, API_TITLE, OPERATIONS
from orchest_gateway.openapi import REF_TEMPLATE, build_document
from orchest_gateway.openapi_examples import EXAMPLES
from orchest_schemas.events import (
    EnvironmentBuildChanged,
    JobStatusChanged,
    ProjectChanged,
    RunStatusChanged,
    SessionStatusChanged,
    StepStatusChanged,
)

EVENTS: tuple[type[BaseModel], ...] = (
    RunStatusChanged,
    StepStatusChanged,
    JobStatusChanged,
    SessionStatusChanged,
    ProjectChanged,
    EnvironmentBuildChanged,
)


class EveryFieldSent(GenerateJsonSchema):
    """An event as sent has every field (defaults included): all required."""

    def field_is_required(
        self,
        field: core_schema.ModelField | core_schema.DataclassField | core_schema.TypedDictField,
        total: bool,
    ) -> bool:
        if self.mode == "serialization":
            return not field.get("serialization_exclude")
        return super().field_is_required(field, total)


def document() -> dict[str, Any]:
    result = build_document(
        OPERATIONS, title=API_TITLE, version="0", description=API_DESCRIPTION, examples=EXAMPLES
    )
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(m, "serialization") for m in EVENTS]
    _, events = models_json_schema(
        wanted, ref_template=REF_TEMPLATE, schema_generator=EveryFieldSent
    )
    schemas: dict[str, Any] = result["components"]["schemas"]
    for name, schema in events.get("$defs", {}).items():
        if name in schemas and schemas[name] != schema:
            raise SystemExit(f"two schemas named {name}")
        schemas[name] = schema
    return result


def main() -> None:
    json.dump(document(), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
