"""One granted attempt: run it, store its artifacts, and publish its report.

Once a claim is granted the work is always reported, never handed back:
whatever fails around the step (the definition is missing, the executor or
the artifacts store breaks) ends the attempt ``FAILURE`` with the error. A
report's error is bounded (``report_error_max_bytes``, under the connection's
``max_payload``; the whole text goes to the step's log), and a report is
sent until the scheduler answers it or JetStream has it.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nats.errors import Error as NatsError
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.object_store import ObjectStore

from orchest_schemas.bus import HEADER_MSG_ID
from orchest_schemas.commands import StepWork
from orchest_schemas.reports import (
    ReportAnswer,
    ReportAttempt,
    StepAttemptFinished,
    bounded_text,
)
from orchest_schemas.status import StepStatus
from orchest_service.commands import request_command
from orchest_service.errors import OrchestError
from orchest_service.service import ServiceContext

from .definitions import DefinitionCache
from .environments import EnvironmentUnusable, with_environment
from .executor import ExecutionResult, StepExecutor
from .executor.base import run_all
from .heartbeat import Running
from .output import StepOutput
from .scratch import attempt_folder, remove_attempt_folder
from .settings import RunnerSettings

logger = logging.getLogger(__name__)

ENVIRONMENT_RESOLVE_SECONDS = 10.0
"""How long the builds' owner may take to say which build a step uses."""

REPORT_TRIES = 3
"""How many times a report's request is sent before the ``REPORTS`` stream."""
PUBLISH_ERRORS = (NatsTimeoutError, TimeoutError, NoRespondersError, OSError)
"""A report not published for these is published again (NATS is down or slow)."""


class Attempts:
    """Runs granted attempts with the runner's executor, artifacts store and
    definitions cache."""

    def __init__(
        self,
        ctx: ServiceContext,
        settings: RunnerSettings,
        executor: StepExecutor,
        artifacts: ObjectStore,
        runner_id: str,
    ) -> None:
        self._ctx = ctx
        self._settings = settings
        self._executor = executor
        self._artifacts = artifacts
        self._runner_id = runner_id
        self._definitions = DefinitionCache(
            ctx.js, ctx.bus.definitions_bucket, settings.artifacts_ttl_seconds
        )
        self._housekeeping_tasks: set[asyncio.Future[Any]] = set()
        self._ended: list[Path] = []
        """The scratch folders of attempts that ended, to remove once the
        next report is on its way (``_after_report_soon``)."""
        self._after: list[Callable[[], None]] = []
        """What the executor left to do after the reports of attempts that
        ended (``StepExecutor.execute``), done with their folders' removal."""

    async def drain(self) -> None:
        """Do what is left, and wait for the housekeeping still going
        (scratch folders being removed)."""
        self._after_report(self._take_ended(), self._take_after())
        if self._housekeeping_tasks:
            await asyncio.wait(self._housekeeping_tasks)

    async def run(self, work: StepWork, active: Running) -> tuple[StepAttemptFinished, StepOutput]:
        """Run a granted attempt: its report (``FAILURE`` with the error if
        anything around the step broke, bounded) and its output."""
        logs = StepOutput(
            self._ctx.js,
            self._ctx.bus.step_log(work.run_uuid, work.step_uuid),
            work,
            self._settings.log_flush_seconds,
        )
        started_at = datetime.now(UTC)
        try:
            definition = await self._definitions.get(work.definition_key)
            work = work.model_copy(update={"pipeline_definition": definition})
            report = await self._run(work, active, logs)
        except Exception as exc:  # not the step's own failure: the runner's
            logger.exception("attempt %d failed in the runner", work.attempt, extra=_log(work))
            report = self._report(
                work, ExecutionResult(exit_code=None, error=f"runner error: {exc!r}", artifacts={})
            )
            report = report.model_copy(update={"started_at": started_at})
        return await self._bounded(report, logs), logs

    async def _bounded(self, report: StepAttemptFinished, logs: StepOutput) -> StepAttemptFinished:
        """The report with its error cut to ``report_error_max_bytes`` (at most
        a quarter of the connection's ``max_payload``); a cut error goes to the
        step's log whole."""
        if report.error is None:
            return report
        limit = min(self._settings.report_error_max_bytes, self._ctx.nc.max_payload // 4)
        error = bounded_text(report.error, limit)
        if error == report.error:
            return report
        await logs.write(f"\n[the step's error, whole]\n{report.error}\n")
        return report.model_copy(update={"error": error})

    async def _run(self, work: StepWork, active: Running, logs: StepOutput) -> StepAttemptFinished:
        scratch = attempt_folder(work.step_uuid[:8])
        started_at = datetime.now(UTC)
        clock = time.perf_counter()
        try:
            work = await with_environment(
                self._ctx.nc, self._ctx.bus, work, ENVIRONMENT_RESOLVE_SECONDS
            )
            result = await self._executor.execute(
                work,
                output=logs.write,
                cancel=active.cancel,
                scratch_dir=scratch,
                after_report=self._after,
            )
        except EnvironmentUnusable as unusable:  # nothing ran: the reason is the error
            result = ExecutionResult(exit_code=None, error=str(unusable), artifacts={})
        except Exception as exc:  # the executor itself broke: the attempt failed
            logger.exception("executor failed", extra=_log(work))
            result = ExecutionResult(exit_code=None, error=f"runner error: {exc}", artifacts={})
        finally:
            execution_seconds = time.perf_counter() - clock
            finished_at = datetime.now(UTC)
            self._ended.append(scratch)  # removed once its report is sent
        artifacts = await self._store_artifacts(work, result)
        # Made once, not made and copied: it is on the way to the report.
        return self._report(
            work,
            result,
            artifacts=artifacts,
            started_at=started_at,
            finished_at=finished_at,
            execution_seconds=execution_seconds,
        )

    def _report(self, work: StepWork, result: ExecutionResult, **ran: Any) -> StepAttemptFinished:
        return StepAttemptFinished(
            run_uuid=work.run_uuid,
            step_uuid=work.step_uuid,
            attempt=work.attempt,
            status=_status_of(result),
            exit_code=result.exit_code,
            error=result.error,
            runner_id=self._runner_id,
            **ran,
        )

    def _take_ended(self) -> list[Path]:
        ended, self._ended = self._ended, []
        return ended

    def _take_after(self) -> list[Callable[[], None]]:
        after, self._after = self._after, []
        return after

    def _after_report_soon(self) -> None:
        """What the attempts that ended left (the executor's bookkeeping, then
        their scratch folders removed), on the loop, two turns from now:
        after the NATS client has written what was published in this turn (it
        writes in the next), so not in the way of the report sent now, and
        done while its answer is awaited."""
        if self._ended or self._after:
            loop = asyncio.get_running_loop()
            loop.call_soon(
                loop.call_soon, self._after_report, self._take_ended(), self._take_after()
            )

    def _after_report(self, folders: list[Path], after: list[Callable[[], None]]) -> None:
        run_all(after)
        self._remove(folders)

    def _remove(self, folders: list[Path]) -> None:
        for folder in folders:
            if not remove_attempt_folder(folder):  # more than an attempt leaves: a thread
                self._housekeeping(asyncio.to_thread(shutil.rmtree, folder, True))

    def _housekeeping(self, work: Coroutine[Any, Any, Any]) -> None:
        """Housekeeping off the critical path (awaited by the drain on stop)."""
        task = asyncio.ensure_future(work)
        self._housekeeping_tasks.add(task)
        task.add_done_callback(self._housekeeping_tasks.discard)

    async def _store_artifacts(self, work: StepWork, result: ExecutionResult) -> list[str]:
        names = []
        for name, content in result.artifacts.items():
            key = self._ctx.bus.artifact_key(work.run_uuid, work.step_uuid, work.attempt, name)
            await self._artifacts.put(key, content)
            names.append(name)
        return names

    async def is_notebook(self, work: StepWork) -> bool:
        """The attempt's step is a notebook (its definition is cached by now;
        one that cannot be read counts as not)."""
        try:
            definition = await self._definitions.get(work.definition_key)
        except Exception:
            return False
        step = definition.steps.get(work.step_uuid)
        return step is not None and step.file_path.lower().endswith(".ipynb")

    async def report(
        self, report: StepAttemptFinished, next_lease_seconds: float | None
    ) -> StepWork | None:
        """Send the report to the scheduler and wait for its decision's commit;
        with ``next_lease_seconds`` (the runner keeps the slot), the attempt
        granted to this runner in that decision, if any. Not answered within
        the claim timeout, it is asked again (a slow scheduler answers the
        same report with the same attempt), ``REPORT_TRIES`` times in all;
        not answered then, or refused, or nobody to answer it: published on
        the ``REPORTS`` stream instead, where it waits for the scheduler, and
        nothing is handed over."""
        request = ReportAttempt(report=report, next_lease_seconds=next_lease_seconds)
        self._after_report_soon()  # its publish below comes first
        for _ in range(REPORT_TRIES):
            try:
                answer = await request_command(
                    self._ctx.nc,
                    self._ctx.bus.report_step,
                    request,
                    ReportAnswer,
                    timeout=self._settings.claim_timeout_seconds,
                )
            except (OrchestError, NatsError, OSError, ValueError) as exc:
                if isinstance(exc.__cause__, NatsTimeoutError):  # a scheduler slow to answer
                    logger.warning("report not answered in time (%s): asking again", exc)
                    continue
                logger.warning("report not answered (%s): published on the reports stream", exc)
                break
            return answer.work
        await self.publish_report(report)
        return None

    async def publish_report(self, report: StepAttemptFinished) -> None:
        """Publish until JetStream has it (the lease is renewed meanwhile): an
        attempt that ran must not end without its report. A report refused
        for itself (not for NATS being down) is replaced once by a bare
        ``FAILURE`` saying why."""
        delay = 0.1
        bare = False
        while True:
            try:
                await self._ctx.js.publish(
                    self._ctx.bus.step_report(report.run_uuid, report.step_uuid),
                    report.to_bytes(),
                    headers={HEADER_MSG_ID: report.report_id},
                )
                return
            except PUBLISH_ERRORS as exc:
                logger.warning("report not published (%s); retrying", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            except NatsError as exc:
                if bare:  # no heartbeat renews its lease now: the lease sweep ends it
                    logger.error("report of %s refused again (%r): dropped", report.step_uuid, exc)
                    return
                logger.error("report of %s refused (%r): a bare one instead", report.step_uuid, exc)
                bare = True
                report = report.model_copy(
                    update={
                        "status": StepStatus.FAILURE,
                        "error": bounded_text(f"report refused by NATS: {exc!r}", 1024),
                        "artifacts": [],
                    }
                )


def _log(work: StepWork) -> dict[str, str]:
    return {"run_uuid": work.run_uuid, "step_uuid": work.step_uuid}


def _status_of(result: ExecutionResult) -> StepStatus:
    if result.aborted:
        return StepStatus.ABORTED
    if result.error is None and result.exit_code == 0:
        return StepStatus.SUCCESS
    return StepStatus.FAILURE
