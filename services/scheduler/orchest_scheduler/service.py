"""The scheduler as a service: what it owns, its commands and its loops."""

from __future__ import annotations

import asyncio

from orchest_runtime.commands import CommandEndpoint, add_commands
from orchest_runtime.consumer import consume
from orchest_runtime.service import ServiceContext, ServiceDefinition
from orchest_schemas.bus import ServiceName
from orchest_schemas.commands import (
    AbortJobRun,
    AbortRun,
    CancelJob,
    CreateJob,
    CreateRun,
    TriggerJob,
    UpdateJob,
)
from orchest_schemas.reports import ClaimStep, RunnerHeartbeat, StepAttemptFinished

from .clock import Clock, SystemClock
from .definitions import DefinitionStore
from .jobs import Jobs
from .leases import Leases
from .outbox import Outbox
from .runs import Runs
from .settings import SchedulerSettings

REPORT_ACK_WAIT_SECONDS = 30.0


def build_definition(
    settings: SchedulerSettings | None = None, clock: Clock | None = None
) -> ServiceDefinition:
    """The scheduler; ``clock`` drives job schedules (a test's ``ManualClock``)."""
    parts: dict[str, object] = {}
    job_clock = clock or SystemClock()

    async def register(ctx: ServiceContext) -> None:
        own = settings or SchedulerSettings.model_validate(ctx.settings.model_dump())
        outbox = Outbox(ctx.db, ctx.nc, ctx.js)
        await outbox.recover()  # what a previous process left goes out first
        definitions = DefinitionStore(
            ctx.js, ctx.bus.definitions_bucket, ctx.settings.artifacts_ttl_seconds
        )
        runs = Runs(ctx.db, ctx.bus, outbox, definitions)
        jobs = Jobs(ctx.db, ctx.bus, ctx.js, outbox, runs, own, job_clock)
        leases = Leases(ctx.db, ctx.nc, runs)
        parts.update(outbox=outbox, runs=runs, jobs=jobs, leases=leases, settings=own)
        group = ctx.bus.queue_group(ServiceName.SCHEDULER)
        commands: list[CommandEndpoint] = [
            ("create-run", ctx.bus.create_run, CreateRun, runs.create),
            ("abort-run", ctx.bus.abort_run, AbortRun, runs.abort),
            ("claim-step", ctx.bus.claim_step, ClaimStep, runs.claim),
            ("step-heartbeat", ctx.bus.step_heartbeat, RunnerHeartbeat, leases.heartbeat),
            ("create-job", ctx.bus.create_job, CreateJob, jobs.create),
            ("update-job", ctx.bus.update_job, UpdateJob, jobs.update),
            ("trigger-job", ctx.bus.trigger_job, TriggerJob, jobs.trigger),
            ("cancel-job", ctx.bus.cancel_job, CancelJob, jobs.cancel),
            ("abort-job-run", ctx.bus.abort_job_run, AbortJobRun, jobs.abort_run),
        ]
        await add_commands(ctx.micro, group, commands)

    async def serve(ctx: ServiceContext) -> None:
        outbox = parts["outbox"]
        runs = parts["runs"]
        jobs = parts["jobs"]
        leases = parts["leases"]
        own = parts["settings"]
        assert isinstance(outbox, Outbox) and isinstance(runs, Runs) and isinstance(jobs, Jobs)
        assert isinstance(leases, Leases) and isinstance(own, SchedulerSettings)
        await runs.schedule_waiting_retries()
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(outbox.run(ctx.stopping))
                group.create_task(runs.sweep_retries(ctx.stopping))
                group.create_task(leases.sweep(ctx.stopping, own.lease_sweep_seconds))
                group.create_task(jobs.tick_loop(ctx.stopping))
                group.create_task(jobs.sweep_loop(ctx.stopping))
                group.create_task(
                    consume(
                        ctx.js,
                        ctx.bus.scheduler_reports_consumer(REPORT_ACK_WAIT_SECONDS),
                        StepAttemptFinished,
                        runs.on_report,
                        ctx.stopping,
                        batch=1024,
                        concurrent=True,
                    )
                )
        finally:
            runs.close()
            await jobs.close()

    return ServiceDefinition(
        name=ServiceName.SCHEDULER,
        distribution="orchest-scheduler",
        description="Owns runs, run steps, jobs and the event log; dispatches step work.",
        uses_database=True,
        db_schema="scheduler",
        migrations_package="orchest_scheduler.migrations",
        register=register,
        serve=serve,
    )
