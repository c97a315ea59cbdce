"""Every service's process runs on uvloop, the step runner's on CPython's loop,
unless ``ORCHEST_EVENT_LOOP`` says otherwise (``orchest_service.loop``,
``RunnerSettings.event_loop``): each started as a process through its own
``__main__`` says which loop it runs in its micro metadata (``/api/health``'s
instances), and stops on SIGTERM with exit code 0 on either loop."""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

import pytest
from nats.aio.client import Client

from orchest_gateway.discovery import discover
from orchest_schemas.bus import BusNames
from orchest_service.loop import METADATA_EVENT_LOOP
from support import ENV_WITHOUT_ORCHEST, eventually, free_port

MODULES = {
    "scheduler": "orchest_scheduler",
    "step-runner": "orchest_step_runner",
    "session-manager": "orchest_session_manager",
    "gateway": "orchest_gateway",
}


async def started_loop(
    service: str, env: dict[str, str], nc: Client, bus: BusNames
) -> dict[str, Any]:
    """Start ``service`` as a process with ``env``; the metadata it registers
    with, once seen; then SIGTERM it and check it exits 0."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        MODULES[service],
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    try:

        async def registered() -> dict[str, str] | None:
            found = await discover(nc, bus.prefix, [service], timeout=0.5, quiet=0.05)
            for instance in found.get(service, []):
                if instance.pid == proc.pid:
                    return instance.metadata
            return None

        metadata = await eventually(registered, timeout=60, what=f"{service} registered")
        proc.send_signal(signal.SIGTERM)
        err = await asyncio.wait_for(proc.stderr.read(), 30)
        assert await asyncio.wait_for(proc.wait(), 30) == 0, err.decode()[-4000:]
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert b"serving" in err and b"stopped" in err, err.decode()[-4000:]
    return {"metadata": metadata, "log": err.decode()}


@pytest.fixture
def service_env(nats_server: Any, database_url: str, bus: BusNames) -> dict[str, str]:
    return dict(
        ENV_WITHOUT_ORCHEST,
        ORCHEST_NATS_URL=nats_server.url,
        ORCHEST_DATABASE_URL=database_url,
        ORCHEST_BUS_PREFIX=bus.prefix,
        ORCHEST_PORT=str(free_port()),
    )


DEFAULT_LOOPS = {"step-runner": "asyncio"}
"""The services not on uvloop by default."""


@pytest.mark.parametrize("service", list(MODULES))
async def test_a_service_runs_on_its_default_loop(
    service: str, service_env: dict[str, str], nc: Client, bus: BusNames
) -> None:
    loop = DEFAULT_LOOPS.get(service, "uvloop")
    started = await started_loop(service, service_env, nc, bus)
    assert started["metadata"][METADATA_EVENT_LOOP] == loop
    assert f"on {loop}" in started["log"]


@pytest.mark.parametrize(("service", "loop"), [("scheduler", "asyncio"), ("step-runner", "uvloop")])
async def test_the_setting_chooses_the_loop(
    service: str, loop: str, service_env: dict[str, str], nc: Client, bus: BusNames
) -> None:
    env = dict(service_env, ORCHEST_EVENT_LOOP=loop)
    started = await started_loop(service, env, nc, bus)
    assert started["metadata"][METADATA_EVENT_LOOP] == loop
    assert f"on {loop}" in started["log"]
