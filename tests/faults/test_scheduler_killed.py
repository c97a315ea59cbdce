"""A run survives its scheduler being killed (kill -9) in the middle of it."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fault_kit import StackFactory

from orchest_schemas.health import HealthReport
from support import eventually

pytestmark = pytest.mark.e2e


async def test_a_chain_finishes_after_the_scheduler_is_killed_twice(
    start_stack: StackFactory, workdir: Path
) -> None:
    project = workdir / "chain"
    project.mkdir()
    (project / "step.sh").write_text(f'echo "$ORCHEST_STEP_UUID" >> "{project}/ran"\nsleep 0.2\n')
    steps = {
        f"s{i:02d}": {
            "uuid": f"s{i:02d}",
            "title": f"S{i:02d}",
            "file_path": "step.sh",
            "incoming_connections": [f"s{i - 1:02d}"] if i else [],
        }
        for i in range(16)
    }
    body = {
        "pipeline_definition": {"uuid": "crash-chain", "steps": steps},
        "run_config": {"project_dir": str(project)},
    }
    stack = start_stack()
    async with httpx.AsyncClient(base_url=stack.url, timeout=10.0) as http:
        run = (await http.post("/api/runs", json=body)).json()

        async def steps_done(at_least: int) -> int | None:
            view = (await http.get(f"/api/runs/{run['uuid']}")).json()
            done = sum(s["status"] == "SUCCESS" for s in view["pipeline_steps"])
            return done if done >= at_least else None

        for at_least in (3, 8):
            await eventually(lambda n=at_least: steps_done(n), timeout=30, what=f"{at_least} steps")
            report = HealthReport.model_validate_json((await http.get("/api/health")).content)
            [scheduler] = next(s for s in report.services if s.name == "scheduler").instances
            assert scheduler.pid is not None
            os.kill(scheduler.pid, signal.SIGKILL)

        async def ended() -> dict[str, Any] | None:
            try:
                view: dict[str, Any] = (await http.get(f"/api/runs/{run['uuid']}")).json()
            except httpx.HTTPError:
                return None
            return view if view["status"] in ("SUCCESS", "FAILURE", "ABORTED") else None

        final = await eventually(ended, timeout=90, what="the run ended")
    assert final["status"] == "SUCCESS", json.dumps(final, indent=1)
    assert all(s["status"] == "SUCCESS" for s in final["pipeline_steps"])
    # Every step ran exactly once: no attempt was lost, none was repeated.
    assert sorted((project / "ran").read_text().split()) == sorted(steps)
    assert all(s["attempt"] == 1 for s in final["pipeline_steps"])
    # No event lost: the run's sequence numbers are 1..n, n its last one.
    conn = await asyncpg.connect(stack.stack_file()["database_url"])
    try:
        sequences = [
            r["sequence"]
            for r in await conn.fetch(
                "SELECT sequence FROM scheduler.event_log"
                " WHERE run_uuid = $1 AND sequence IS NOT NULL ORDER BY sequence",
                run["uuid"],
            )
        ]
        last = await conn.fetchval(
            "SELECT event_seq FROM scheduler.runs WHERE uuid = $1", run["uuid"]
        )
    finally:
        await conn.close()
    assert sequences == list(range(1, last + 1))
    assert last >= 3 * len(steps)  # at least PENDING, STARTED, SUCCESS of each step
