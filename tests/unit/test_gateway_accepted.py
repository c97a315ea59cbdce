"""``POST /api/runs`` bodies accepted lately, taken again by their bytes, with
the command's JSON for the scheduler made once."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel
from starlette.requests import Request

from orchest_gateway.body import Accepted, read_encoded
from orchest_gateway.errors import ApiError
from orchest_gateway.limits import run_limits
from orchest_gateway.settings import GatewaySettings
from orchest_schemas.commands import CreateRun


def request_of(raw: bytes) -> Request:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": raw, "more_body": False}

    headers = [(b"content-length", str(len(raw)).encode())]
    return Request({"type": "http", "method": "POST", "headers": headers}, receive)


def body(**extra: Any) -> dict[str, Any]:
    step = {"uuid": "a", "title": "A", "file_path": "a.sh"}
    return {
        "pipeline_definition": {"uuid": "p", "name": "p", "steps": {"a": step}},
        "run_config": {"project_dir": "/tmp"},
        **extra,
    }


async def read_both(raw: bytes, accepted: Accepted[CreateRun]) -> tuple[CreateRun, bytes]:
    settings = GatewaySettings()
    return await read_encoded(request_of(raw), CreateRun, settings, run_limits(settings), accepted)


async def read(raw: bytes, accepted: Accepted[CreateRun]) -> CreateRun:
    return (await read_both(raw, accepted))[0]


async def test_the_same_bytes_again_are_the_same_command() -> None:
    accepted = Accepted(CreateRun)
    raw = json.dumps(body()).encode()
    first = await read(raw, accepted)
    assert await read(raw, accepted) is first and accepted.hits == 1
    other = await read(json.dumps(body(run_type="selection", uuids=["a"])).encode(), accepted)
    assert other.uuids == ["a"] and len(accepted) == 2


async def test_the_same_bytes_again_are_not_encoded_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    encoded: list[CreateRun] = []
    dump = CreateRun.model_dump_json

    def counted(self: CreateRun, **kwargs: Any) -> str:
        encoded.append(self)
        return dump(self, **kwargs)

    monkeypatch.setattr(CreateRun, "model_dump_json", counted)
    accepted = Accepted(CreateRun)
    raw = json.dumps(body()).encode()
    command, first = await read_both(raw, accepted)
    # What the scheduler gets is the command's JSON, as before.
    assert first == dump(command).encode() and len(encoded) == 1
    for _ in range(3):
        assert await read_both(raw, accepted) == (command, first)
    assert len(encoded) == 1 and accepted.hits == 3


async def test_a_bad_body_gets_every_problem_each_time() -> None:
    accepted = Accepted(CreateRun)
    raw = json.dumps(body(run_type="nope", project_uuid="", idempotency_key="")).encode()
    for _ in range(2):
        with pytest.raises(ApiError) as caught:
            await read(raw, accepted)
        assert caught.value.status == 422
        listed = {tuple(e.loc) for e in caught.value.errors}
        assert {("run_type",), ("project_uuid",), ("idempotency_key",)} <= listed, listed
    assert len(accepted) == 0


async def test_refused_bodies_are_not_kept_and_still_refused() -> None:
    accepted = Accepted(CreateRun)
    await read(json.dumps(body()).encode(), accepted)
    text = json.dumps(body())
    twice = text[:-1] + ', "run_type": "full", "run_type": "full"}'
    for raw in (twice.encode(), json.dumps(body(run_type="nope")).encode(), b"{"):
        for _ in range(2):
            with pytest.raises(ApiError) as caught:
                await read(raw, accepted)
            assert caught.value.status in (400, 422)
    assert len(accepted) == 1 and accepted.hits == 0


async def test_bounded() -> None:
    accepted = Accepted(CreateRun)
    for n in range(Accepted.MAX_ENTRIES + 5):
        await read(json.dumps(body(idempotency_key=f"k{n}")).encode(), accepted)
    assert len(accepted) == Accepted.MAX_ENTRIES
    big = json.dumps(body(idempotency_key="big")).encode()
    big = big[:-1] + b" " * Accepted.MAX_BODY + b"}"
    before = len(accepted)
    await read(big, accepted)
    await read(big, accepted)
    assert accepted.hits == 0 and len(accepted) == before
    held = Accepted(CreateRun)
    for n in range(6):
        raw = json.dumps(body(idempotency_key=f"h{n}")).encode()
        await read(raw[:-1] + b" " * (60 * 1024) + b"}", held)
    assert len(held) == Accepted.MAX_HELD // (61 * 1024)  # the oldest evicted


class Mutable(BaseModel):
    name: str


def test_only_frozen_models() -> None:
    with pytest.raises(TypeError):
        Accepted(Mutable)
