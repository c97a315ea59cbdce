"""Every operation of the OpenAPI document shows an example of its request
body and of its main (success) response, and each example is valid for its
model (what the gateway would accept, or could answer)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from orchest_gateway.app import API_DESCRIPTION, API_TITLE, OPERATIONS
from orchest_gateway.openapi import Operation, build_document
from orchest_gateway.openapi_examples import EXAMPLES

DOCUMENT = build_document(
    OPERATIONS, title=API_TITLE, version="0", description=API_DESCRIPTION, examples=EXAMPLES
)


def main_response(op: Operation) -> tuple[int, type[BaseModel]] | None:
    """The success status with a JSON body model, if the operation has one."""
    found = sorted((s, m) for s, (_, m) in op.responses.items() if s < 300 and m is not None)
    return found[0] if found else None


def operation(op: Operation) -> dict[str, Any]:
    entry: dict[str, Any] = DOCUMENT["paths"][op.path][op.method.lower()]
    return entry


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.operation_id)
def test_each_request_body_has_a_valid_example(op: Operation) -> None:
    if op.request_body is None:
        assert "requestBody" not in operation(op)
        return
    media = operation(op)["requestBody"]["content"]["application/json"]
    assert "example" in media, f"{op.operation_id}: no example of {op.request_body.__name__}"
    op.request_body.model_validate(media["example"])


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.operation_id)
def test_each_main_response_has_a_valid_example(op: Operation) -> None:
    main = main_response(op)
    if main is None:  # no JSON body: 204, text, a file, an event stream, this document
        return
    status, model = main
    media = operation(op)["responses"][str(status)]["content"][op.content_type]
    assert "example" in media, f"{op.operation_id}: no example of {model.__name__}"
    model.model_validate(media["example"])


def test_most_operations_have_a_main_response() -> None:
    """The two checks above check something: the operations without a JSON
    body are the few that answer none."""
    without = sorted(op.operation_id for op in OPERATIONS if main_response(op) is None)
    assert without == [
        "deletePipeline",
        "deleteProject",
        "deleteProjectFile",
        "getOpenApi",
        "getRunStepArtifact",
        "getRunStepLogs",
        "ping",
        "streamEvents",
    ]


def test_an_example_that_breaks_its_model_is_caught() -> None:
    """The validation is strict enough to catch a drifted example."""
    from orchest_schemas.runs import RunView

    broken = {**EXAMPLES[RunView], "status": "DONE"}
    with pytest.raises(ValueError):
        RunView.model_validate(broken)
