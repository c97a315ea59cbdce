"""The scheduler as a service: what it owns, its commands and its loops."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from orchest_schemas.bus import ServiceName
from orchest_schemas.commands import (
    AbortJobRun,
    AbortRun,
    CancelJob,
    CreateJob,
    CreateRun,
    PreviewSchedule,
    TriggerJob,
    UpdateJob,
)
from orchest_schemas.environments import (
    CreateEnvironment,
    DeleteEnvironment,
    GetEnvironment,
    ListEnvironments,
    UpdateEnvironment,
)
from orchest_schemas.projects import (
    CreatePipeline,
    CreateProject,
    CreateStepFile,
    DeleteFile,
    DeletePipeline,
    DeleteProject,
    GetPipeline,
    GetProject,
    ListFiles,
    ListPipelines,
    ListProjects,
    MoveFile,
    ReadFile,
    SavePipeline,
    SetPipelineEnv,
    UpdateProject,
    WriteFile,
)
from orchest_schemas.reports import (
    ClaimStep,
    RunnerHeartbeat,
)
from orchest_service.commands import CommandEndpoint, add_commands
from orchest_service.service import ServiceContext, ServiceDefinition

from .clock import Clock, SystemClock
from .definitions import DefinitionStore
from .environment_pins import EnvironmentPins
from .environments import Environments
from .jobs import Jobs
from .leases import Leases
from .outbox import Outbox
from .project_browser import Browser
from .project_pipelines import Pipelines
from .project_watch import ProjectWatcher
from .projects import Projects
from .report_answers import ReportEndpoint, add_report_endpoint
from .report_consumer import ReportConsumer
from .runs import Runs
from .settings import SchedulerSettings

REPORT_ACK_WAIT_SECONDS = 30.0
SCHEMA = "scheduler"


@dataclass(frozen=True)
class _Parts:
    """What ``register`` builds and ``serve`` runs."""

    settings: SchedulerSettings
    outbox: Outbox
    runs: Runs
    jobs: Jobs
    leases: Leases
    watcher: ProjectWatcher
    report_endpoint: ReportEndpoint


def build_definition(
    settings: SchedulerSettings | None = None, clock: Clock | None = None
) -> ServiceDefinition:
    """The scheduler; ``clock`` drives job schedules (a test's ``ManualClock``)."""
    wired: _Parts | None = None
    job_clock = clock or SystemClock()

    async def register(ctx: ServiceContext) -> None:
        nonlocal wired
        own = settings or SchedulerSettings.model_validate(ctx.settings.model_dump())
        outbox = Outbox(ctx.db, ctx.nc, ctx.js)
        await outbox.recover()  # what a previous process left goes out first
        definitions = DefinitionStore(
            ctx.js, ctx.bus.definitions_bucket, ctx.settings.artifacts_ttl_seconds
        )
        projects = Projects(ctx.db, own.projects_dir, own.templates_dir)
        pipelines = Pipelines(ctx.db, projects)
        browser = Browser(pipelines)
        environments = Environments(ctx.db, projects)
        watcher = ProjectWatcher(
            ctx.db, ctx.js, ctx.bus, own.projects_dir, projects.record_new_folders
        )
        projects.on_change = watcher.projects_changed
        runs = Runs(ctx.db, ctx.bus, outbox, definitions, pipelines=pipelines)
        jobs = Jobs(ctx.db, ctx.bus, ctx.js, outbox, runs, own, job_clock)
        jobs.pins = EnvironmentPins(ctx.nc, ctx.bus)
        leases = Leases(ctx.db, ctx.nc, runs)
        group = ctx.bus.queue_group(ServiceName.SCHEDULER)
        project = ctx.bus.project_command
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
            ("preview-schedule", ctx.bus.preview_schedule, PreviewSchedule, jobs.preview_schedule),
            ("list-projects", project("list"), ListProjects, projects.list),
            ("get-project", project("get"), GetProject, projects.get),
            ("create-project", project("create"), CreateProject, projects.create),
            ("update-project", project("update"), UpdateProject, projects.update),
            ("delete-project", project("delete"), DeleteProject, projects.delete),
            ("list-pipelines", project("pipelines.list"), ListPipelines, pipelines.list),
            ("get-pipeline", project("pipelines.get"), GetPipeline, pipelines.get),
            ("create-pipeline", project("pipelines.create"), CreatePipeline, pipelines.create),
            ("save-pipeline", project("pipelines.save"), SavePipeline, pipelines.save),
            ("delete-pipeline", project("pipelines.delete"), DeletePipeline, pipelines.delete),
            ("set-pipeline-env", project("pipelines.env"), SetPipelineEnv, pipelines.set_env),
            ("list-files", project("files.list"), ListFiles, browser.list),
            ("read-file", project("files.read"), ReadFile, browser.read),
            ("write-file", project("files.write"), WriteFile, browser.write),
            ("create-step-file", project("files.create"), CreateStepFile, browser.create_step_file),
            ("move-file", project("files.move"), MoveFile, browser.move),
            ("delete-file", project("files.delete"), DeleteFile, browser.delete),
            ("list-envs", project("environments.list"), ListEnvironments, environments.list),
            ("get-env", project("environments.get"), GetEnvironment, environments.get),
            ("create-env", project("environments.create"), CreateEnvironment, environments.create),
            ("update-env", project("environments.update"), UpdateEnvironment, environments.update),
            ("delete-env", project("environments.delete"), DeleteEnvironment, environments.delete),
        ]
        await add_commands(ctx.micro, group, commands)
        report_endpoint = await add_report_endpoint(  # answers at the commit: report_answers.py
            ctx.micro,
            ctx.nc,
            name="report-step",
            subject=ctx.bus.report_step,
            queue_group=group,
            runs=runs,
        )
        wired = _Parts(own, outbox, runs, jobs, leases, watcher, report_endpoint)

    async def serve(ctx: ServiceContext) -> None:
        parts = wired
        assert parts is not None, "the service runs register before serve"
        outbox, runs, jobs, leases = parts.outbox, parts.runs, parts.jobs, parts.leases
        await runs.schedule_waiting_retries()
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(outbox.run(ctx.stopping))
                group.create_task(runs.sweep_retries(ctx.stopping))
                group.create_task(leases.sweep(ctx.stopping, parts.settings.lease_sweep_seconds))
                group.create_task(jobs.ticker.run(ctx.stopping))
                group.create_task(jobs.sweep_loop(ctx.stopping))
                group.create_task(parts.watcher.run(ctx.stopping))
                reports = ReportConsumer(
                    ctx.js,
                    ctx.nc,
                    ctx.bus.scheduler_reports_consumer(REPORT_ACK_WAIT_SECONDS),
                    runs.submit_report,
                )
                group.create_task(reports.run(ctx.stopping))
                # At a stop, the reports the endpoint took are answered
                # before the connection closes.
                group.create_task(
                    parts.report_endpoint.answer_in_flight(ctx.stopping, ctx.micro.stopped)
                )
        finally:
            runs.close()
            await jobs.close()

    return ServiceDefinition(
        name=ServiceName.SCHEDULER,
        distribution="orchest-scheduler",
        description="Owns runs, run steps, jobs and the event log; dispatches step work.",
        uses_database=True,
        db_schema=SCHEMA,
        migrations_package="orchest_scheduler.migrations",
        register=register,
        serve=serve,
    )
