"""Reading micro INFO replies into service instances."""

from __future__ import annotations

import json

from orchest_gateway.discovery import parse_info


def info(**overrides: object) -> bytes:
    body: dict[str, object] = {
        "type": "io.nats.micro.v1.info_response",
        "name": "scheduler",
        "id": "abc",
        "version": "0.1.0",
        "metadata": {
            "bus_prefix": "orchest",
            "host": "h1",
            "pid": "42",
            "started": "2026-11-29T11:31:52+00:00",
        },
        "endpoints": [{"name": "create", "subject": "orchest.cmd.v1.runs.create"}],
    }
    body.update(overrides)
    return json.dumps(body).encode()


def test_an_instance_of_our_bus() -> None:
    parsed = parse_info(info(), "orchest")
    assert parsed is not None
    name, instance = parsed
    assert name == "scheduler"
    assert (instance.id, instance.version, instance.host, instance.pid) == (
        "abc",
        "0.1.0",
        "h1",
        42,
    )
    assert instance.endpoints == ["orchest.cmd.v1.runs.create"]
    assert instance.started is not None and instance.started.year == 2026


def test_another_bus_or_no_metadata_is_not_ours() -> None:
    assert parse_info(info(), "other") is None
    assert parse_info(info(metadata=None), "orchest") is None


def test_malformed_replies_are_skipped() -> None:
    assert parse_info(b"not json", "orchest") is None
    assert parse_info(info(id=None, version=None), "orchest") is None
    assert (
        parse_info(json.dumps({"metadata": {"bus_prefix": "orchest"}}).encode(), "orchest") is None
    )
