"""The process executor: each step a local subprocess (``docs/runs.md``)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import os
import shutil
import signal
import sys
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

from orchest_schemas.commands import StepWork
from orchest_service.childenv import inherited_environment

from .base import Attempt, ExecutionResult, StepExecutor, missing_step_file
from .cells import START_SECONDS
from .control import Stop, script_result, wait_or_stop
from .environment import StepLaunch, build_python, prepare_launch
from .guardian import Guardian, reap_orphans
from .isolation import Isolation, IsolationMode, StepView
from .kernel_pool import KernelPool, PoolOptions
from .notebook import execute_notebook
from .pid_window import Counters, PidWindow, read_counters
from .reaping import RunnerProcess
from .scripts import PYTHON, environment_python, script_type, unsupported
from .spawn import Leader
from .streaming import GuardedSink, pump_stream
from .tree import (
    attempt_processes,
    kill_attempt,
    kill_tree,
    process_tree,
    terminate_attempt,
)

logger = logging.getLogger(__name__)

DRAIN_SECONDS = 2.0
"""How long output is still forwarded once the step's processes are gone: the
pipe normally ends at once, but a process that escaped the sweep (one that left
the group and dropped the environment) may hold it open."""


class ProcessExecutor(StepExecutor):
    """Runs script steps as local processes (each file type with its program,
    ``scripts``: a ``.py`` with the interpreter of the environment's Python
    kernel) and notebooks in a local Jupyter kernel; implements ``StepExecutor``.

    Each process leads its own session; on timeout or cancel the whole tree gets
    SIGTERM, then SIGKILL after ``kill_grace_seconds``. ``base_env`` is the
    environment steps inherit (the runner's own by default). With a
    ``guardian`` (``open`` starts one), the steps' processes die with the
    runner, whatever kills it. ``isolation`` gives each step its view of
    ``/project-dir``, ``/data`` and ``/pipeline.json`` (``isolation.py``);
    ``None``: unisolated, no ``/data``. ``pool``: warm kernels for notebook
    steps (``kernel_pool.py``).
    """

    def __init__(
        self,
        *,
        python: str = sys.executable,
        kill_grace_seconds: float = 1.0,
        kernel_start_seconds: float = START_SECONDS,
        default_kernel: str = "python3",
        base_env: Mapping[str, str] | None = None,
        guardian: Guardian | None = None,
        isolation: Isolation | None = None,
        pool: KernelPool | None = None,
    ) -> None:
        self._pool = pool
        self._isolation = isolation or Isolation(IsolationMode.NONE, Path("/data"), "not asked")
        self._python = python
        self._kill_grace_seconds = kill_grace_seconds
        self._kernel_start_seconds = kernel_start_seconds
        self._default_kernel = default_kernel
        self._base_env = base_env
        self._guardian = guardian
        self._ahead: tuple[float, Counters | None] | None = None
        """The pid counters read after the last report (``_counters``)."""

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls,
        me: RunnerProcess,
        *,
        kill_grace_seconds: float = 1.0,
        kernel_start_seconds: float = START_SECONDS,
        isolation: Isolation | None = None,
        pool: PoolOptions | None = None,
    ) -> AsyncIterator[ProcessExecutor]:
        """The executor of the runner ``me``: first the processes that dead
        runners of this host left are killed, then its guardian starts, then
        its pool of warm kernels (``pool``, if its size is not 0); on exit
        the pool's kernels are killed and the guardian ends what is left of
        the steps, and exits."""
        await asyncio.to_thread(reap_orphans, me)
        guardian = Guardian(me)
        await guardian.start()
        isolation = isolation or Isolation(IsolationMode.NONE, Path("/data"), "not asked")
        try:
            async with contextlib.AsyncExitStack() as stack:
                kernels = None
                if pool is not None and pool.size > 0:
                    kernels = await stack.enter_async_context(KernelPool.open(pool, isolation))
                yield cls(
                    kill_grace_seconds=kill_grace_seconds,
                    kernel_start_seconds=kernel_start_seconds,
                    guardian=guardian,
                    isolation=isolation,
                    pool=kernels,
                )
        finally:
            await guardian.close()

    @property
    def pool(self) -> KernelPool | None:
        """The warm kernels of notebook steps (``None``: none)."""
        return self._pool

    @property
    def guardian_pid(self) -> int | None:
        """The guardian's process (``None``: none, or not started)."""
        return None if self._guardian is None else self._guardian.pid

    async def _attempt(self, work: StepWork, attempt: Attempt) -> ExecutionResult:
        output, cancel, deadline = attempt.output, attempt.cancel, attempt.deadline
        base_env = _RUNNER_ENV.part() if self._base_env is None else self._base_env
        launch = prepare_launch(work, scratch_dir=attempt.scratch_dir, base_env=base_env)
        if self._guardian is not None:
            await self._guardian.ensure()
            launch = dataclasses.replace(launch, env={**launch.env, **self._guardian.environment})
        if not launch.file.is_file():
            return missing_step_file(work)
        if launch.file.suffix.lower() == ".ipynb":
            return await execute_notebook(
                work,
                launch,
                isolation=self._isolation,
                output=output,
                cancel=cancel,
                deadline=deadline,
                default_kernel=self._default_kernel,
                pool=self._pool,
                start_seconds=self._kernel_start_seconds,
            )
        async with self._isolation.view(work, launch) as view:
            started = await self._command(work, view.file, view.launch)
            if isinstance(started, ExecutionResult):
                return started
            command, launch = started
            return await self._run(work, launch, view, command, attempt, deadline)

    async def _command(
        self, work: StepWork, file: Path, launch: StepLaunch
    ) -> tuple[list[str], StepLaunch] | ExecutionResult:
        """The script's command line (``scripts``) and its launch (a ``.py``
        step: with its kernelspec's ``env``); or the failed result when the
        program is missing or the file type unknown."""
        kind = script_type(file)
        if kind is None:
            return ExecutionResult(None, unsupported(file))
        if kind is PYTHON and (venv_python := build_python(work)) is not None:
            return [venv_python, str(file)], launch
        if kind is PYTHON:
            python = await asyncio.to_thread(
                environment_python, work.step.kernel.name, self._default_kernel
            )
            if python is None:  # no Python kernelspec at all: the runner's interpreter
                return [self._python, str(file)], launch
            env = python.environment(launch.env)
            if shutil.which(python.executable, path=env.get("PATH", os.defpath)) is None:
                return ExecutionResult(None, python.missing())
            return [python.executable, str(file)], dataclasses.replace(launch, env=env)
        program = _which(kind.program, launch.env.get("PATH", os.defpath))
        if program is None:
            return ExecutionResult(None, kind.missing())
        return [program, str(file)], launch

    async def _run(
        self,
        work: StepWork,
        launch: StepLaunch,
        view: StepView,
        command: list[str],
        attempt: Attempt,
        deadline: float | None,
    ) -> ExecutionResult:
        # On the loop: two small /proc files, cheaper than a thread hop.
        before = self._counters()
        try:
            # No await from here to the try below: nothing can cancel the call
            # between the leader's start and the clean-up that ends it.
            leader = view.start(command, launch)
        except FileNotFoundError as exc:  # the program (or nsenter) ``Popen`` could not start
            return ExecutionResult(None, f"{exc.filename or command[0]} not found")
        pid = leader.pid
        window = None if before is None else PidWindow(before, pid)
        if self._guardian is not None:
            self._guardian.watch(pid)
        logger.info(
            "step %s of run %s (attempt %d) started as pid %d",
            work.step_uuid,
            work.run_uuid,
            work.attempt,
            pid,
        )
        sink = GuardedSink(attempt.output)
        pump = asyncio.create_task(pump_stream(leader.output, sink))
        ended = False
        try:
            stop = await wait_or_stop(leader.exited, attempt.cancel, deadline)
            if stop is not None:
                logger.info(
                    "step %s of run %s: %s, ending its processes",
                    work.step_uuid,
                    work.run_uuid,
                    stop.value,
                )
                await terminate_attempt(
                    pid,
                    pid,
                    launch.marker,
                    grace_seconds=self._kill_grace_seconds,
                    since=launch.started,
                    window=window,
                )
            await leader.exited
            # Like a container: what the step left running ends with it.
            await kill_attempt(pid, launch.marker, since=launch.started, window=window)
            if not pump.done():  # it has mostly read the end already: no wait, no timer
                await asyncio.wait({pump}, timeout=DRAIN_SECONDS)
            ended = True
        finally:
            if leader.returncode is None:  # the caller cancelled us, or a failure
                kill_tree(
                    pid,
                    attempt_processes(process_tree(pid), launch.marker, launch.started, window),
                )
            pump.cancel()  # no output is forwarded once the result is known
            if not ended:
                self._ended(pid, leader)
        # What the report does not wait for: after it (``Attempt.after_report``).
        attempt.after_report.append(functools.partial(self._ended, pid, leader))
        attempt.after_report.append(self._read_ahead)
        sink.raise_failure()
        exit_code = leader.returncode
        assert exit_code is not None
        return _result(exit_code, stop, work.timeout_seconds)

    def _read_ahead(self) -> None:
        """The pid counters for the next attempt's window, read once a report
        is sent, while its answer (which may hand this runner the next step)
        is awaited."""
        self._ahead = (time.monotonic(), read_counters())

    def _counters(self) -> Counters | None:
        """The counters a leader's window starts from: those read ahead if
        fresh (counters from any moment before the leader bound its window,
        only more loosely the older they are: ``pid_window``), else read now."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and time.monotonic() - ahead[0] < AHEAD_SECONDS:
            return ahead[1] or read_counters()
        return read_counters()

    def _ended(self, pid: int, leader: Leader) -> None:
        """The bookkeeping of a leader whose processes are all gone: the
        guardian's slot freed, its output pipe closed."""
        if self._guardian is not None:
            self._guardian.release(pid)
        leader.close()


class _InheritedEnvironment:
    """The allow-listed part of the runner's environment
    (``childenv.inherited_environment``), made again only when
    ``os.environ`` changed: each of its names and values is decoded at each
    read, which cost 14-50 us a step start (``docs/performance.md``), where
    comparing its raw mapping with a copy of it costs about 1 us."""

    def __init__(self) -> None:
        self._seen: dict[bytes, bytes] | None = None
        self._part: dict[str, str] = {}

    def part(self) -> Mapping[str, str]:
        raw = getattr(os.environ, "_data", None)  # CPython's: without it, made each time
        if raw is None:
            return inherited_environment(os.environ)
        if raw != self._seen:
            self._part = inherited_environment(os.environ)
            self._seen = dict(raw)
        return self._part


_RUNNER_ENV = _InheritedEnvironment()


AHEAD_SECONDS = 1.0
"""Counters read ahead are used by a leader starting within this long (a
chain's next step starts within milliseconds); older, they are read again:
the processes created since would widen the bound for nothing."""

WHICH_SECONDS = 5.0
"""How long a program found on a ``PATH`` is taken as found there."""
_FOUND: dict[tuple[str, str], tuple[str, float]] = {}


def _which(program: str, path: str) -> str | None:
    """``shutil.which`` of ``program`` on ``path`` (72 us for 18 folders here),
    a program found kept for ``WHICH_SECONDS``: one installed earlier on the
    ``PATH`` meanwhile is found after that; a missing one is looked for each
    time (installed, it is found at once)."""
    now = time.monotonic()
    found = _FOUND.get((program, path))
    if found is not None and now - found[1] < WHICH_SECONDS:
        return found[0]
    where = shutil.which(program, path=path)
    if where is not None:
        if len(_FOUND) >= 64:
            _FOUND.clear()
        _FOUND[(program, path)] = (where, now)
    return where


def _result(exit_code: int, stop: Stop | None, timeout_seconds: float | None) -> ExecutionResult:
    cause = None
    if exit_code < 0:
        with contextlib.suppress(ValueError):
            cause = f"killed by {signal.Signals(-exit_code).name}"
    return script_result(exit_code, stop, timeout_seconds, cause)
