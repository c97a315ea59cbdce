"""``CreateRun`` parsed from bytes: the same bytes again are the same command."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from orchest_schemas import commands
from orchest_schemas.commands import CreateRun


def body(**extra: Any) -> dict[str, Any]:
    step = {"uuid": "a", "title": "A", "file_path": "a.sh"}
    return {
        "pipeline_definition": {"uuid": "p", "name": "p", "steps": {"a": step}},
        "run_config": {"project_dir": "/tmp"},
        **extra,
    }


def test_the_same_bytes_are_parsed_once() -> None:
    raw = json.dumps(body(idempotency_key="once")).encode()
    first = CreateRun.model_validate_json(raw)
    assert CreateRun.model_validate_json(bytes(bytearray(raw))) is first
    assert first == CreateRun.model_validate(json.loads(raw))
    # text, bytearray and options: parsed as pydantic does, not kept
    assert CreateRun.model_validate_json(raw.decode()) is not first
    assert CreateRun.model_validate_json(bytearray(raw)) == first
    assert CreateRun.model_validate_json(raw, strict=False) is not first


def test_bad_bytes_are_refused_every_time() -> None:
    for raw in (
        json.dumps(body(run_type="sideways")).encode(),
        json.dumps(body(project_uuid="x", pipeline_uuid="y")).encode(),
        json.dumps(body(env_variables={"A": "1"})).encode(),
        b"{",
    ):
        for _ in range(2):
            with pytest.raises(ValidationError):
                CreateRun.model_validate_json(raw)
    assert all(raw != b"{" for _, raw in commands._PARSED)


def test_bounded() -> None:
    for n in range(commands._PARSED_MAX_ENTRIES + 3):
        CreateRun.model_validate_json(json.dumps(body(idempotency_key=f"k{n}")).encode())
    assert len(commands._PARSED) == commands._PARSED_MAX_ENTRIES
    big = json.dumps(body()).encode()[:-1] + b" " * commands._PARSED_MAX_BYTES + b"}"
    assert CreateRun.model_validate_json(big) is not CreateRun.model_validate_json(big)
    padded = [
        json.dumps(body(idempotency_key=f"h{n}")).encode()[:-1] + b" " * (60 * 1024) + b"}"
        for n in range(6)
    ]
    for raw in padded:
        CreateRun.model_validate_json(raw)
    assert [raw for _, raw in commands._PARSED] == padded[-4:]  # 256 kB in all
