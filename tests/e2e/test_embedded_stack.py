"""The embedded stack through the ``orchest`` command: up, health, crash
recovery, down with nothing left behind, data kept across restarts, and
external servers instead of embedded ones."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import asyncpg
import psutil
import pytest
from e2e_stack import Stack, make_stack

from orchest_cli.embedded import EmbeddedNats, EmbeddedPostgres
from orchest_schemas.bus import ALL_SERVICES, BusNames
from orchest_schemas.health import HealthReport
from support import eventually

pytestmark = pytest.mark.e2e

SERVICE_NAMES = [s.value for s in ALL_SERVICES]


def pids_of(report: HealthReport) -> dict[str, list[int]]:
    return {s.name: [i.pid for i in s.instances if i.pid] for s in report.services}


async def healthy_report(stack: Stack) -> HealthReport | None:
    response = await stack.health()
    return (
        HealthReport.model_validate_json(response.content) if response.status_code == 200 else None
    )


def alive(pids: list[int]) -> list[int]:
    return [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]


async def test_up_health_crash_recovery_down_and_restart_keeps_data(stack: Stack) -> None:
    stack.up()
    report = HealthReport.model_validate_json((await stack.health()).content)
    assert report.status == "ok", report
    assert {s.name for s in report.services if s.up} == set(SERVICE_NAMES)
    assert all(len(s.instances) == 1 for s in report.services)
    recorded = stack.stack_file()
    assert recorded["embedded"] == {"nats": True, "postgres": True}
    assert (stack.state_dir / "nats").is_dir() and (
        stack.state_dir / "postgres" / "PG_VERSION"
    ).exists()
    for name in ["supervisor", "nats", "postgres", *SERVICE_NAMES]:
        assert (stack.state_dir / "logs" / f"{name}.log").exists(), name

    # kill -9 of each service: restarted, health recovers with a new pid.
    for name in SERVICE_NAMES:
        [old_pid] = pids_of(report)[name]
        os.kill(old_pid, signal.SIGKILL)

        async def recovered(name: str = name, old_pid: int = old_pid) -> HealthReport | None:
            current = await healthy_report(stack)
            if current is None or pids_of(current)[name] in ([], [old_pid]):
                return None
            return current

        report = await eventually(recovered, timeout=30, what=f"{name} restarted and healthy")
    restarts = stack.stack_file()["restarts"]
    assert restarts == {name: 1 for name in SERVICE_NAMES}

    # Something written now must be there after down and up.
    database_url = stack.stack_file()["database_url"]
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "INSERT INTO scheduler.runs (uuid, pipeline_uuid, run_type, status,"
            " pipeline_definition, project_dir) VALUES (gen_random_uuid(), 'kept', 'full',"
            " 'SUCCESS', '{}', '/p')"
        )
        migrations_before = await conn.fetch("SELECT * FROM scheduler.schema_migrations")
    finally:
        await conn.close()

    every_pid = [p["pid"] for p in stack.stack_file()["processes"].values()]
    result = stack.down()
    assert "Stopped" in result.stdout
    assert alive(every_pid) == []
    assert not stack.state.stack_file.exists()
    assert await _no_answer(stack), "the gateway still answers after down"

    stack.up()
    conn = await asyncpg.connect(stack.stack_file()["database_url"])
    try:
        kept = await conn.fetchval(
            "SELECT count(*) FROM scheduler.runs WHERE pipeline_uuid = 'kept'"
        )
        migrations = await conn.fetch("SELECT * FROM scheduler.schema_migrations")
    finally:
        await conn.close()
    assert kept == 1
    assert migrations == migrations_before  # nothing re-applied


async def _no_answer(stack: Stack) -> bool:
    try:
        await stack.health()
    except Exception:
        return True
    return False


async def test_second_up_reports_the_running_stack(stack: Stack) -> None:
    stack.up()
    before = stack.stack_file()["processes"]
    again = stack.up()
    assert "Already running" in again.stdout
    assert stack.stack_file()["processes"] == before


async def test_killed_supervisor_takes_its_children_down(stack: Stack) -> None:
    stack.up()
    processes = stack.stack_file()["processes"]
    os.kill(processes["supervisor"]["pid"], signal.SIGKILL)
    children = [p["pid"] for name, p in processes.items() if name != "supervisor"]

    async def all_gone() -> bool | None:
        return True if alive(children) == [] else None

    await eventually(all_gone, timeout=30, what="children of a killed supervisor exit")
    # down still cleans up what the dead supervisor recorded, and up works again.
    stack.orchest("down")
    stack.up()
    assert (await stack.health()).status_code == 200


async def test_external_nats_and_postgres_start_nothing_embedded(
    workdir: Path, nats_server: EmbeddedNats, postgres_server: EmbeddedPostgres, database_url: str
) -> None:
    prefix = BusNames(f"e2e{os.getpid()}").prefix
    stack = make_stack(
        workdir,
        ORCHEST_NATS_URL=nats_server.url,
        ORCHEST_DATABASE_URL=database_url,
        ORCHEST_BUS_PREFIX=prefix,
    )
    try:
        stack.up()
        recorded: dict[str, Any] = stack.stack_file()
        assert recorded["embedded"] == {"nats": False, "postgres": False}
        assert set(recorded["processes"]) == {"supervisor", *SERVICE_NAMES}
        assert recorded["nats_url"] == nats_server.url
        assert not (stack.state_dir / "nats").exists()
        assert not (stack.state_dir / "postgres").exists()
        report = HealthReport.model_validate_json((await stack.health()).content)
        assert report.status == "ok"
    finally:
        stack.orchest("down")
