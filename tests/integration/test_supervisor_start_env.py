"""``orchest up`` starts the services at the same time as NATS and Postgres:
a service process runs (imports) before they are up, and gets where they are
on stdin once they are (``Supervised.start_env``, ``await_start_env``)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from orchest_cli.backoff import RestartPolicy
from orchest_cli.supervisor import START_ENV, Supervised
from orchest_service.entry import START_ENV as SERVICE_START_ENV
from support import eventually

SERVICE = (
    "import os\n"
    "from orchest_service.entry import await_start_env\n"
    "print('imported', flush=True)\n"
    "await_start_env()\n"
    "print('nats at', os.environ['ORCHEST_NATS_URL'], os.environ.get('ORCHEST_START_ENV'), flush=True)\n"
)


def supervised(tmp_path: Path, start_env: asyncio.Future[dict[str, str]]) -> Supervised:
    return Supervised(
        "svc",
        [sys.executable, "-c", SERVICE],
        {k: v for k, v in os.environ.items() if k != "ORCHEST_NATS_URL"},
        tmp_path / "svc.log",
        RestartPolicy(),
        on_start=lambda: None,
        start_env=start_env,
    )


def read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


async def logged(path: Path, text: str) -> str | None:
    content = await asyncio.to_thread(read, path)
    return content if text in content else None


async def test_a_service_starts_before_the_servers_are_up_and_gets_them_on_stdin(
    tmp_path: Path,
) -> None:
    assert START_ENV == SERVICE_START_ENV
    start_env: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()
    service = supervised(tmp_path, start_env)
    stopping = asyncio.Event()
    task = asyncio.create_task(service.run(stopping))
    log = tmp_path / "svc.log"
    await eventually(lambda: logged(log, "imported"), timeout=30, what="the service's imports")
    assert "nats at" not in log.read_text()  # waiting for the servers

    start_env.set_result({"ORCHEST_NATS_URL": "nats://127.0.0.1:4999"})
    text = await eventually(lambda: logged(log, "nats at"), timeout=30, what="its environment")
    assert "nats at nats://127.0.0.1:4999 None" in text
    stopping.set()
    await asyncio.wait_for(task, 30)


async def test_servers_that_never_come_up_end_the_waiting_service(tmp_path: Path) -> None:
    start_env: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()
    service = supervised(tmp_path, start_env)
    stopping = asyncio.Event()
    task = asyncio.create_task(service.run(stopping))
    log = tmp_path / "svc.log"
    await eventually(lambda: logged(log, "imported"), timeout=30, what="the service's imports")
    first = service.proc
    assert first is not None
    start_env.cancel()

    async def exited() -> int | None:
        return first.returncode

    assert await eventually(exited, timeout=30, what="its exit") == 0  # stdin closed: exit 0
    stopping.set()
    await asyncio.wait_for(task, 30)
    assert "nats at" not in log.read_text()
