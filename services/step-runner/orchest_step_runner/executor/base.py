"""The executor contract: run one step attempt, stream its output, report how it ended."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from orchest_schemas.commands import StepWork

OutputSink = Callable[[str], Awaitable[None]]
"""Receives the step's output text in order, as it comes (chunks, not lines)."""


@dataclass(frozen=True)
class ExecutionResult:
    """How an attempt ended.

    ``exit_code`` is the process's exit code (negative: the signal that ended
    it); for notebooks 0 on success and 1 on a cell error. It is ``None`` when
    no process ran (e.g. no ``Rscript``). ``error`` is ``None`` on success,
    else a short message for people: ``"exit code 3"``,
    ``"ZeroDivisionError: division by zero (cell 2)"``, ``"kernel died"``,
    ``"timed out after 2.0s"``, ``"aborted"``.
    """

    exit_code: int | None
    error: str | None
    timed_out: bool = False
    aborted: bool = False
    artifacts: dict[str, bytes] = field(default_factory=dict)
    """Name to content; notebooks give the executed notebook as ``executed.ipynb``."""

    @property
    def succeeded(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Attempt:
    """What ``StepExecutor.execute`` was given for one attempt, and its deadline."""

    output: OutputSink
    cancel: asyncio.Event
    scratch_dir: Path
    deadline: float | None
    """On the running loop's clock (``loop.time()``); None: no timeout."""


class StepExecutor(ABC):
    """Runs one step attempt to its end.

    Returns when the step and everything it started are gone: on success, on
    failure, on ``timeout_seconds`` and once ``cancel`` is set. ``scratch_dir``
    is a private temporary directory of this attempt, created and deleted by
    the caller. An executor implements ``_attempt``.
    """

    async def execute(
        self,
        work: StepWork,
        *,
        output: OutputSink,
        cancel: asyncio.Event,
        scratch_dir: Path,
    ) -> ExecutionResult:
        timeout = work.timeout_seconds
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        return await self._attempt(work, Attempt(output, cancel, scratch_dir, deadline))

    @abstractmethod
    async def _attempt(self, work: StepWork, attempt: Attempt) -> ExecutionResult: ...


def missing_step_file(work: StepWork) -> ExecutionResult:
    return ExecutionResult(None, f"step file not found: {work.step.file_path}")
