"""A gateway stopped while answers that never end by themselves are open (a
dashboard's live events, a followed log of a step still waiting): it stops at
once, their connections cut, instead of waiting its whole drain timeout for
them (one dashboard left open held every ``orchest down`` for 30 s)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from nats.aio.client import Client
from runs_harness import Project
from sse_harness import gateway_process

from orchest_scheduler.service import build_definition as build_scheduler
from orchest_schemas.bus import BusNames
from orchest_schemas.events import StepLogChunk

DRAIN_SECONDS = 600.0
"""Far longer than the test waits: a stop that drains the open answers fails it."""
STOP_WITHIN = 60.0


async def test_a_stop_cuts_event_streams_and_followed_logs_at_once(
    nats_server: Any,
    database_url: str,
    bus: BusNames,
    nc: Client,
    tmp_path: Path,
    service_settings: Callable[..., Any],
    service_runner: Any,
) -> None:
    project = Project(tmp_path)
    project.step("s", "s.sh", "echo hi\n")
    log = tmp_path / "gw.log"
    async with (
        gateway_process(nats_server.url, database_url, bus, log, drain_seconds=DRAIN_SECONDS) as gw,
        service_runner(build_scheduler(), service_settings()),
        httpx.AsyncClient(base_url=gw.url, timeout=httpx.Timeout(STOP_WITHIN)) as http,
    ):
        created = await http.post("/api/runs", json=project.body())
        assert created.status_code == 201, created.text
        run = created.json()["uuid"]
        # No step runner: the step waits, its log has what is published here.
        chunk = StepLogChunk(run_uuid=run, step_uuid="s", attempt=1, offset=0, data="half way\n")
        await nc.jetstream().publish(bus.step_log(run, "s"), chunk.to_bytes())

        async with (
            http.stream("GET", "/api/events") as events,
            http.stream("GET", f"/api/runs/{run}/steps/s/logs", params={"follow": "true"}) as logs,
        ):
            assert (events.status_code, logs.status_code) == (200, 200)
            event_parts, log_parts = events.aiter_raw(), logs.aiter_text()
            assert (await anext(event_parts)).startswith(b": connected")
            assert await anext(log_parts) == "half way\n"

            gw.process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(gw.process.wait(), STOP_WITHIN)
            assert gw.process.returncode == 0, log.read_text()
            # Cut, not ended: a followed log that ended cleanly would say it
            # is complete; an event stream resumes from its last event.
            for rest in (event_parts, log_parts):
                with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
                    async for _ in rest:
                        pass
