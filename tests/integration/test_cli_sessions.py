"""``orchest sessions`` as a user runs it, against the gateway and a stand-in
session manager (the test moves the sessions on, as launches would)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
import pytest
from sessions_harness import Gateway, StandIn, gateway_alone

from orchest_cli.sessions import project_uuid_of
from support import (
    CommandResult,
    command_result,
    eventually,
    orchest_command,
    start_orchest_command,
)

PIPELINE = "6073d12c-194f-4a6a-9836-600bccb37482"


@pytest.fixture
async def gateway(service_settings: Callable[..., Any]) -> AsyncIterator[Gateway]:
    # Short keep-alives: a change nobody announced is seen at the next one.
    async with gateway_alone(service_settings, sse_keepalive_seconds=0.3) as g:
        await StandIn(g).start()
        yield g


@pytest.fixture
def pipeline(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    path = root / "p.orchest"
    path.write_text(json.dumps({"uuid": PIPELINE, "name": "p", "steps": {}}))
    return path


async def orchest(gateway: Gateway, *args: str) -> CommandResult:
    """The command in a child process (the gateway serves in this loop meanwhile)."""
    return await orchest_command(gateway.url, "sessions", *args)


async def following(gateway: Gateway, *args: str) -> asyncio.subprocess.Process:
    """``orchest sessions *args --wait`` started, once it follows the session's
    events: its event stream open, and the session read once since (the read
    a stream's first comment makes, on a second connection to the gateway;
    the command's earlier request was on a connection it closed)."""
    process = await start_orchest_command(gateway.url, "sessions", *args, "--wait")
    port = urlsplit(gateway.url).port

    async def two_connections() -> bool | None:
        connections = psutil.Process(process.pid).net_connections("tcp")
        live = [
            c
            for c in connections
            if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
        ]
        return True if len(live) >= 2 else None

    await eventually(two_connections, timeout=30, what="the command following the events")
    return process


async def launched(gateway: Gateway, project_uuid: str) -> str:
    """The uuid of the session the command launched, once it did."""

    async def probe() -> str | None:
        found: str | None = await gateway.pool.fetchval(
            "SELECT uuid::text FROM session_manager.sessions"
            " WHERE project_uuid = $1 AND status = 'LAUNCHING'",
            project_uuid,
        )
        return found

    return await eventually(probe, timeout=30, what="the session launched")


async def test_launch_waits_until_the_session_runs_and_prints_its_jupyter_link(
    gateway: Gateway, pipeline: Path
) -> None:
    project_uuid = project_uuid_of(pipeline.parent)
    command = await following(gateway, "launch", str(pipeline))
    session = await launched(gateway, project_uuid)
    await gateway.move(
        session, "RUNNING", jupyter_url="http://127.0.0.1:8888/lab", jupyter_token="secret"
    )
    result = await command_result(command)
    assert result.code == 0, result.out + result.err
    lines = result.out.splitlines()
    assert lines[0] == f"session {session} (project {project_uuid}, pipeline {PIPELINE}): LAUNCHING"
    assert lines[1].endswith("): RUNNING")
    assert lines[2] == "Jupyter: http://127.0.0.1:8888/lab?token=secret"

    shown = await orchest(gateway, "show", str(pipeline))  # named by its pipeline file
    assert shown.code == 0, shown.err
    assert session in shown.out and "RUNNING" in shown.out
    assert "http://127.0.0.1:8888/lab" in shown.out and "secret" not in shown.out
    assert "--show-token" in shown.out

    again = await orchest(gateway, "launch", str(pipeline))
    assert again.code == 1
    assert "already has a live session" in again.err


async def test_a_failed_launch_exits_1_with_its_reason_even_unannounced(
    gateway: Gateway, pipeline: Path
) -> None:
    command = await following(gateway, "launch", str(pipeline), "--project-uuid", "proj-1")
    session = await launched(gateway, "proj-1")
    # No event: the command reads the session again at each keep-alive.
    await gateway.move(session, "FAILED", reason="jupyter did not start", publish=False)
    result = await command_result(command)
    assert result.code == 1, result.out + result.err
    assert result.out.splitlines()[-1] == (
        f"session {session} (project proj-1, pipeline {PIPELINE}): FAILED: jupyter did not start"
    )
    assert "Jupyter:" not in result.out


async def test_stop_and_restart_wait_list_and_show(gateway: Gateway) -> None:
    session = await gateway.insert(
        "proj-2",
        PIPELINE,
        "RUNNING",
        jupyter_url="http://127.0.0.1:9999/",
        jupyter_token="t0k3n",
        eg_url="http://127.0.0.1:9998",
        details={
            "jupyter": {"pid": 4242},
            "services": [{"name": "web", "urls": ["http://127.0.0.1:8050/"], "state": "running"}],
        },
    )
    await gateway.insert("proj-3", PIPELINE, "STOPPED")

    hidden = await orchest(gateway, "show", "proj-2", PIPELINE)
    assert hidden.code == 0 and "t0k3n" not in hidden.out, hidden.out + hidden.err
    shown = await orchest(gateway, "show", "proj-2", PIPELINE, "--show-token")
    assert shown.code == 0, shown.err
    assert "RUNNING" in shown.out and session in shown.out
    assert "http://127.0.0.1:9999/?token=t0k3n" in shown.out
    assert "http://127.0.0.1:9998" in shown.out
    assert '{"pid":4242}' in shown.out
    # Each user service: its URLs and state, on a line of its own.
    (web,) = [line for line in shown.out.splitlines() if "service web" in line]
    assert "http://127.0.0.1:8050/" in web and "running" in web
    # The project's uuid is a column of --wide (by default: its folder and the pipeline's path).
    live = await orchest(gateway, "list", "--wide")
    assert "1 of 1 sessions" in live.out and "proj-2" in live.out and "proj-3" not in live.out
    everything = await orchest(gateway, "list", "--all", "--wide")
    assert "2 of 2 sessions" in everything.out and "proj-3" in everything.out
    one_project = await orchest(gateway, "list", "--all", "--project", "proj-3", "--wide")
    assert "1 of 1 sessions" in one_project.out and "proj-2" not in one_project.out

    restart = asyncio.create_task(orchest(gateway, "restart", "proj-2", PIPELINE, "--wait"))
    await launched(gateway, "proj-2")
    await gateway.move(session, "RUNNING")
    result = await restart
    assert result.code == 0, result.out + result.err
    assert result.out.splitlines()[-1] == "Jupyter: http://127.0.0.1:9999/?token=t0k3n"

    stop = await following(gateway, "stop", "proj-2", PIPELINE)
    await gateway.move(session, "STOPPED")
    result = await command_result(stop)
    assert result.code == 0, result.out + result.err
    assert [line.rsplit(": ", 1)[1] for line in result.out.splitlines()] == [
        "STOPPING",
        "STOPPED",
    ]

    for args in (("stop", "proj-2", PIPELINE), ("restart", "proj-2", PIPELINE)):
        refused = await orchest(gateway, *args)
        assert refused.code == 1 and "no live session" in refused.err
    missing = await orchest(gateway, "show", "nobody", PIPELINE)
    assert missing.code == 1 and "no session" in missing.err
