"""The decision's statement reads only the steps it writes, and its work
grows linearly with them, in the plan Postgres caches for it (generic) and in
one made for its values (custom), from one step to a 1600-step burst.

The plans are those of the statement as ``write_plan`` runs it (a prepared
statement under ``plan_cache_mode``), logged by ``auto_explain`` to this
connection: ``EXPLAIN`` of the statement's text with its values would plan
it for those values (a custom plan) whatever the mode."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from nats.aio.client import Client
from runs_harness import chain_command, run_handling
from test_steps_in_place import write_successes

from orchest_schemas.bus import BusNames
from orchest_schemas.reports import ClaimStep

SIZES = [1, 3, 30, 256, 1600]
MODES = ["force_generic_plan", "force_custom_plan"]


class Explaining:
    """A connection on which each statement's executed plan is logged to it
    (``auto_explain``, not to the server's log); ``plan`` explains one
    decision, rolled back."""

    def __init__(self, conn: asyncpg.Connection, run_uuid: str, version: int) -> None:
        self._conn = conn
        self._run_uuid = run_uuid
        self._version = version
        self._logged: list[str] = []
        conn.add_log_listener(lambda _conn, message: self._logged.append(message.message))

    async def open(self) -> None:
        await self._conn.execute(
            "LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0;"
            " SET auto_explain.log_analyze = on; SET auto_explain.log_format = json;"
            " SET client_min_messages = log; SET log_min_messages = panic"
        )

    async def plan(self, steps: int, mode: str) -> dict[str, Any]:
        """The plan of the steps' part of a decision writing ``steps`` steps."""
        self._logged.clear()
        transaction = self._conn.transaction()
        await transaction.start()
        try:
            await self._conn.execute(f"SET LOCAL plan_cache_mode = {mode}")
            written = await write_successes(self._conn, self._run_uuid, self._version, steps)
            assert written == []
            await self._conn.execute("SELECT 1")  # the plan's notice handled by then
        finally:
            await transaction.rollback()
        found = [m.split("plan:", 1)[1] for m in self._logged if "run_steps" in m]
        return steps_part(json.loads(found[-1])["Plan"])


def steps_part(plan: dict[str, Any]) -> dict[str, Any]:
    """The plan's ``UPDATE`` of ``run_steps``."""
    if plan.get("Node Type") == "ModifyTable" and plan.get("Relation Name") == "run_steps":
        return plan
    for child in plan.get("Plans", []):
        found = steps_part(child)
        if found:
            return found
    return {}


def rows_read(plan: dict[str, Any], table: str) -> int:
    """The rows every scan of ``table`` in the plan returned."""
    own = plan["Actual Rows"] * plan["Actual Loops"] if plan.get("Relation Name") == table else 0
    if plan.get("Node Type") == "ModifyTable":
        own = 0  # the update itself, not a scan
    return int(own) + sum(rows_read(child, table) for child in plan.get("Plans", []))


def rows_handled(plan: dict[str, Any]) -> int:
    """Every row each node of the plan returned or discarded, over all its loops."""
    own = plan["Actual Rows"] * plan["Actual Loops"]
    own += plan.get("Rows Removed by Join Filter", 0) + plan.get("Rows Removed by Filter", 0)
    return int(own) + sum(rows_handled(child) for child in plan.get("Plans", []))


@pytest.fixture
async def explaining(
    database_url: str, nc: Client, bus: BusNames, tmp_path: Path
) -> AsyncIterator[Explaining]:
    """A 1600-step run (its first step claimed) beside a smaller one, and a
    connection that explains decisions on it."""
    async with run_handling(database_url, nc, bus) as runs:
        await runs.create(chain_command(tmp_path, 300, "p-other"))
        run = await runs.create(chain_command(tmp_path, max(SIZES), "p-plan"))
        claim = ClaimStep(run_uuid=run.uuid, step_uuid="s0", attempt=1, runner_id="r")
        assert (await runs.claim(claim)).granted
        conn = await asyncpg.connect(database_url, server_settings={"search_path": "scheduler"})
        try:
            version = await conn.fetchval("SELECT version FROM runs WHERE uuid = $1", run.uuid)
            explaining = Explaining(conn, run.uuid, version)
            await explaining.open()
            yield explaining
        finally:
            await conn.close()


@pytest.mark.parametrize("mode", MODES)
async def test_a_decision_reads_only_the_steps_it_writes(explaining: Explaining, mode: str) -> None:
    """The steps a decision updates are found by their keys, at every size
    (before 2026-12-07 every step of the run was read and joined with the
    new rows: a decision cost as much as its run had steps)."""
    for steps in SIZES:
        plan = await explaining.plan(steps, mode)
        assert plan["Actual Rows"] == steps, plan
        assert rows_read(plan, "run_steps") == steps, (steps, plan)


@pytest.mark.parametrize("mode", MODES)
async def test_a_decision_s_work_grows_linearly_with_its_steps(
    explaining: Explaining, mode: str
) -> None:
    """Each step is matched with its new row once: the rows the steps' part
    handles (scanned, joined, discarded by a join's filter, over every loop)
    are a few per step. Before, in the generic plan, each step found was
    matched against every new row (a nested loop over the ``unnest``): 870
    rows discarded at 30 steps, 2.56 million at 1600."""
    handled = {steps: rows_handled(await explaining.plan(steps, mode)) for steps in SIZES}
    assert all(rows <= 8 * steps + 16 for steps, rows in handled.items()), handled
