"""Helpers for tests (importable: ``pythonpath`` includes ``tests``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from orchest_service.service import ServiceDefinition, run_service
from orchest_service.settings import ServiceSettings

T = TypeVar("T")


@contextlib.asynccontextmanager
async def running_service(
    definition: ServiceDefinition, settings: ServiceSettings, timeout: float = 20.0
) -> AsyncIterator[asyncio.Event]:
    """Run a service in this process; yields its stop event. On exit, stops it
    and awaits its end (re-raising whatever it raised)."""
    stop = asyncio.Event()
    started = asyncio.Event()
    task = asyncio.create_task(
        run_service(definition, settings, stop=stop, handle_signals=False, started=started)
    )
    started_wait = asyncio.create_task(started.wait())
    done, _ = await asyncio.wait(
        {task, started_wait}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
    )
    started_wait.cancel()
    if task in done:
        task.result()
        raise AssertionError(f"{definition.name} ended before it started")
    if not started.is_set():
        task.cancel()
        raise AssertionError(f"{definition.name} did not start within {timeout}s")
    try:
        yield stop
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout)


async def http_answer(url: str) -> int | None:
    """The status of ``GET url``, or None while nothing listens there."""
    try:
        async with httpx.AsyncClient(timeout=5.0) as client:
            return (await client.get(url)).status_code
    except httpx.TransportError:
        return None


async def eventually(probe: Callable[[], Awaitable[T | None]], *, timeout: float, what: str) -> T:
    """Probe until it returns something other than None, or fail after ``timeout``.

    For conditions nothing announces (a process restarted by another process);
    where an event exists, tests await the event instead.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: BaseException | None = None
    while loop.time() < deadline:
        try:
            result = await probe()
        except Exception as exc:  # the probe's target may be restarting
            last = exc
            result = None
        if result is not None:
            return result
        await asyncio.sleep(0.05)  # wait-ok: the poll interval of this awaited probe
    raise AssertionError(f"not within {timeout}s: {what} (last error: {last!r})")


def free_port() -> int:
    from orchest_cli.embedded import free_port as _free_port

    return _free_port()


@dataclass
class CommandResult:
    code: int
    out: str
    err: str


async def start_orchest_command(
    url: str, *args: str, env: dict[str, str] | None = None
) -> asyncio.subprocess.Process:
    """The ``orchest`` command with ``args`` against the gateway at ``url``,
    started in a child process (``command_result`` awaits it); the terminal
    is 250 columns wide unless ``env`` says, and the user's configuration unseen."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orchest_cli",
        *args,
        "--url",
        url,
        env={**ENV_WITHOUT_ORCHEST, "COLUMNS": "250", **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def command_result(process: asyncio.subprocess.Process) -> CommandResult:
    """How the command ended, and what it printed."""
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return CommandResult(process.returncode, out.decode(), err.decode())


async def orchest_command(url: str, *args: str, env: dict[str, str] | None = None) -> CommandResult:
    """``start_orchest_command``, then its result (the gateway may serve in
    this loop meanwhile)."""
    return await command_result(await start_orchest_command(url, *args, env=env))


def built_images(script: Path, timeout: float) -> dict[str, str]:
    """Run an image build script (``images/build.sh``, ``deploy/build.sh``);
    the images it printed (``name:tag``), by name. A failed build fails the test."""
    import pytest

    build = subprocess.run([str(script)], capture_output=True, text=True, timeout=timeout)
    if build.returncode != 0:
        where = script.relative_to(REPO_ROOT)
        pytest.fail(
            f"{where} exited with {build.returncode}:\n{build.stderr[-8000:]}", pytrace=False
        )
    return {line.rpartition(":")[0]: line for line in build.stdout.split()}


def launch_body(
    project_uuid: str, pipeline_uuid: str, project_dir: Path | str, **fields: Any
) -> dict[str, Any]:
    """The body of ``POST /api/sessions`` for the pipeline ``main.orchest`` of
    ``project_dir``; ``fields`` add to it (``runtime``, ...)."""
    return {
        "project_uuid": project_uuid,
        "pipeline_uuid": pipeline_uuid,
        "project_dir": str(project_dir),
        "pipeline_path": "main.orchest",
        **fields,
    }


REPO_ROOT = Path(__file__).resolve().parent.parent
CLI_CONFIG_DIR = Path(tempfile.gettempdir()) / f"orchest-tests-config-{os.getpid()}"
"""The ``orchest`` command's configuration folder in tests (what ``orchest up``
remembers, the pipeline names it noted): never the user's own."""
ENV_WITHOUT_ORCHEST = {
    **{k: v for k, v in os.environ.items() if not k.startswith("ORCHEST_")},
    "ORCHEST_CONFIG_DIR": str(CLI_CONFIG_DIR),
}


@contextlib.contextmanager
def loop_callbacks_cpu() -> Iterator[list[tuple[float, str]]]:
    """Measure every event-loop callback run meanwhile: yields a list that fills
    with ``(CPU seconds of the loop's thread, callback)``. CPU time, not wall
    time: what a callback itself costs the loop, whatever other processes
    (or threads waiting for the GIL) take from this one. On asyncio's own
    loop only: uvloop's callbacks are not ``asyncio.events.Handle``s."""
    loop = asyncio.get_running_loop()
    assert isinstance(loop, asyncio.BaseEventLoop), f"asyncio's own loop only, not {loop!r}"
    measured: list[tuple[float, str]] = []
    original = asyncio.events.Handle._run

    def timed(handle: asyncio.events.Handle) -> None:
        start = time.thread_time()
        try:
            original(handle)
        finally:
            measured.append((time.thread_time() - start, repr(handle)))

    asyncio.events.Handle._run = timed  # type: ignore[method-assign]
    try:
        yield measured
    finally:
        asyncio.events.Handle._run = original  # type: ignore[method-assign]


def thread_hops(monkeypatch: Any, module: Any) -> list[str]:
    """The names of the functions ``module`` sends to a thread through
    ``asyncio.to_thread`` from now on (``monkeypatch``: pytest's, which puts
    it back)."""
    hops: list[str] = []
    to_thread = asyncio.to_thread

    async def counted(func: Any, /, *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(func, "__name__", repr(func)))
        return await to_thread(func, *args, **kwargs)

    monkeypatch.setattr(module.asyncio, "to_thread", counted)
    return hops


def still_using(directory: Path) -> str:
    """What is under ``directory`` and which processes still run in it (their
    working directory, command line or environment names it): for a test's
    directory that something wrote into after the test thought all was stopped."""
    import psutil

    left = sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))[:40]
    text = str(directory)
    users = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            named = [process.cwd(), *process.cmdline(), *process.environ().values()]
            if any(text in part for part in named):
                users.append(
                    f"{process.pid} {process.status()} {' '.join(process.cmdline())[:200]}"
                )
    return f"left {left}; processes {users or 'none'}"
