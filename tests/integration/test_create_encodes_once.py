"""A run's create encodes its definition's JSON once per distinct definition:
the checks' key and the stored row use the same bytes, and a repeat of the
same command (what the scheduler parses once from the gateway's bytes)
encodes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from integration.runs_harness import chain_command, run_handling
from nats.aio.client import Client

from orchest_scheduler.definitions import encode_definition
from orchest_schemas.bus import BusNames
from orchest_schemas.commands import CreateRun
from orchest_schemas.pipeline import PipelineDefinition


def chain(folder: Path, steps: int) -> CreateRun:
    return chain_command(folder, steps, "p-encoded-once")


async def test_a_repeated_create_encodes_its_definition_no_more(
    database_url: str, nc: Client, bus: BusNames, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dumps: list[dict[str, Any]] = []
    dump = PipelineDefinition.model_dump_json

    def counted(self: PipelineDefinition, **kwargs: Any) -> str:
        dumps.append(kwargs)
        return dump(self, **kwargs)

    command = chain(tmp_path, 10)
    expected = encode_definition(command.pipeline_definition)  # type: ignore[arg-type]
    monkeypatch.setattr(PipelineDefinition, "model_dump_json", counted)
    async with run_handling(database_url, nc, bus) as runs:
        first = await runs.create(command)
        at_first = len(dumps)
        again = [await runs.create(command) for _ in range(3)]
    # The first: the checks' key (and the store's put, which encodes for its
    # own key); the statement takes the checks' bytes. The repeats: none.
    assert at_first <= 2, dumps
    assert len(dumps) == at_first, dumps[at_first:]
    conn = await asyncpg.connect(database_url)
    try:
        stored = [
            await conn.fetchval(
                "SELECT pipeline_definition::text FROM scheduler.runs WHERE uuid = $1::uuid",
                run.uuid,
            )
            for run in [first, *again]
        ]
    finally:
        await conn.close()
    assert all(json.loads(s) == json.loads(expected) for s in stored)
