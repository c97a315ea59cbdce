"""What a service imports to start: the step runner with the process
executor leaves the docker machinery (aiodocker, the engine client) out, and
imports it when its executor is docker."""

from __future__ import annotations

import subprocess
import sys

STEP_RUNNER_START = (
    "import sys\n"
    "import orchest_service.entry, orchest_step_runner.service, orchest_step_runner.settings\n"
    "{then}\n"
    "print(sorted(m for m in sys.modules if m == 'aiodocker' or m.startswith('orchest_service.docker')))\n"
)


def imported(then: str = "") -> str:
    done = subprocess.run(
        [sys.executable, "-c", STEP_RUNNER_START.format(then=then)],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_the_step_runner_starts_without_the_docker_machinery() -> None:
    assert imported() == "[]"


def test_the_docker_executor_s_options_import_it_on_first_use() -> None:
    then = (
        "from orchest_step_runner.service import docker_options\n"
        "from orchest_step_runner.settings import RunnerSettings\n"
        "options = docker_options(RunnerSettings(executor='docker', docker_api_timeout_seconds=7))\n"
        "assert options.timeouts.request == 7, options\n"
        "from orchest_step_runner.executor.reaping import reap, with_own_container"
    )
    assert "'orchest_service.docker'" in imported(then)


def test_the_session_manager_starts_without_httpx_and_rich() -> None:
    code = (
        "import sys\n"
        "import orchest_service.entry, orchest_session_manager.service\n"
        "import orchest_session_manager.settings\n"
        "print(sorted(m for m in ('httpx', 'rich', 'click') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


async def test_a_session_s_readiness_wait_imports_httpx_on_first_use() -> None:
    import asyncio

    from orchest_session_manager.runtime.readiness import Probe, wait_ready

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    async def alive() -> str | None:
        return None

    async def tail() -> str:
        return ""

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        probe = Probe("jupyter", f"http://127.0.0.1:{port}/api", {}, alive, tail)
        await wait_ready([probe], timeout=10, poll_seconds=0.05)
