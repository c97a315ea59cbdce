"""The executor contract: run one step attempt, stream its output, report how it ended."""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from orchest_schemas.commands import StepWork

logger = logging.getLogger(__name__)

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
    after_report: list[Callable[[], None]] = field(default_factory=list)
    """What the executor leaves to do once the attempt's report is sent
    (bookkeeping its result does not depend on); run by the caller that
    asked for it (``execute``), else before ``execute`` returns."""


class StepExecutor(ABC):
    """Runs one step attempt to its end.

    Returns when the step and everything it started are gone: on success, on
    failure, on ``timeout_seconds`` and once ``cancel`` is set. ``scratch_dir``
    is a private temporary directory of this attempt, created and deleted by
    the caller. ``after_report``: a list the executor's leftover bookkeeping
    is put in, for the caller to run once the report is sent (every callable
    of it once, however the report goes); without it, that is done before
    ``execute`` returns. An executor implements ``_attempt``.
    """

    async def execute(
        self,
        work: StepWork,
        *,
        output: OutputSink,
        cancel: asyncio.Event,
        scratch_dir: Path,
        after_report: list[Callable[[], None]] | None = None,
    ) -> ExecutionResult:
        timeout = work.timeout_seconds
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        attempt = Attempt(output, cancel, scratch_dir, deadline)
        try:
            return await self._attempt(work, attempt)
        finally:
            if after_report is None:
                run_all(attempt.after_report)
            else:
                after_report.extend(attempt.after_report)

    @abstractmethod
    async def _attempt(self, work: StepWork, attempt: Attempt) -> ExecutionResult: ...


def run_all(calls: list[Callable[[], None]]) -> None:
    """Call each of ``calls`` (emptied), logging what fails and going on."""
    taken = calls[:]
    calls.clear()
    for call in taken:
        try:
            call()
        except Exception:
            logger.exception("an attempt's bookkeeping after its report failed")


def missing_step_file(work: StepWork) -> ExecutionResult:
    return ExecutionResult(None, f"step file not found: {work.step.file_path}")
