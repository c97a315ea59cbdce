"""Every subject, stream, consumer, queue group and service name of the bus.

No other module builds a subject. ``BusNames`` is built from one prefix
(``orchest`` by default, ``ORCHEST_BUS_PREFIX``) so that several stacks, or
several tests, share one NATS server without seeing each other's traffic.
The version token (``v1``) after each family is bumped by a breaking change
of that family's messages. See ``docs/bus.md`` for who publishes and who
consumes each one, and with which delivery guarantee.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from .status import Priority

DEFAULT_PREFIX = "orchest"

_TOKEN = re.compile(r"[A-Za-z0-9_-]+")
_PREFIX = re.compile(r"[a-z0-9][a-z0-9_-]*")
"""Lower case only: stream names upper-case the prefix and must stay distinct."""


class ServiceName(StrEnum):
    """Names of the services, as they register with NATS micro."""

    GATEWAY = "gateway"
    SCHEDULER = "scheduler"
    STEP_RUNNER = "step-runner"
    SESSION_MANAGER = "session-manager"


ALL_SERVICES: tuple[ServiceName, ...] = tuple(ServiceName)

# Micro metadata key telling which bus prefix an instance serves (micro's own
# $SRV subjects are global to the NATS account).
METADATA_BUS_PREFIX = "bus_prefix"
METADATA_HOST = "host"
METADATA_PID = "pid"
METADATA_STARTED = "started"

# Header carrying the event id; JetStream de-duplicates on it.
HEADER_MSG_ID = "Nats-Msg-Id"
# Micro's error headers: a reply with them is an ``ErrorReply``.
HEADER_SERVICE_ERROR = "Nats-Service-Error"
HEADER_SERVICE_ERROR_CODE = "Nats-Service-Error-Code"

MICRO_PING = "$SRV.PING"
MICRO_INFO = "$SRV.INFO"
MICRO_STATS = "$SRV.STATS"


class Retention(StrEnum):
    LIMITS = "limits"
    WORK_QUEUE = "workqueue"


@dataclass(frozen=True)
class StreamSpec:
    """A JetStream stream as data; services turn it into a ``StreamConfig``."""

    name: str
    subjects: tuple[str, ...]
    retention: Retention
    max_age_seconds: float = 0.0
    """0 keeps messages until the retention removes them."""
    duplicate_window_seconds: float = 120.0
    description: str = ""


@dataclass(frozen=True)
class ConsumerSpec:
    """A durable pull consumer as data."""

    stream: str
    durable_name: str
    filter_subject: str
    ack_wait_seconds: float
    max_deliver: int = -1
    """-1: redeliver until acknowledged (the consumer decides when to give up)."""


@dataclass(frozen=True)
class BusNames:
    """All names under one prefix. Pure: building a name does no I/O."""

    prefix: str = DEFAULT_PREFIX

    def __post_init__(self) -> None:
        if not _PREFIX.fullmatch(self.prefix):
            raise ValueError(f"bus prefix must match {_PREFIX.pattern}: {self.prefix!r}")

    # -- commands (request/reply to the owner, micro endpoints in a queue group)

    def command(self, name: str) -> str:
        """Subject of a command endpoint, e.g. ``orchest.cmd.v1.runs.create``."""
        return f"{self.prefix}.cmd.v1.{name}"

    @property
    def create_run(self) -> str:
        return self.command("runs.create")

    @property
    def abort_run(self) -> str:
        return self.command("runs.abort")

    @property
    def create_job(self) -> str:
        return self.command("jobs.create")

    @property
    def update_job(self) -> str:
        return self.command("jobs.update")

    @property
    def trigger_job(self) -> str:
        return self.command("jobs.trigger")

    @property
    def cancel_job(self) -> str:
        return self.command("jobs.cancel")

    @property
    def abort_job_run(self) -> str:
        return self.command("jobs.runs.abort")

    @property
    def preview_schedule(self) -> str:
        """The next firing times of a cron schedule (a read, answered by the scheduler)."""
        return self.command("jobs.schedule.preview")

    @property
    def claim_step(self) -> str:
        """A runner asks the scheduler for an attempt before running it."""
        return self.command("steps.claim")

    @property
    def report_step(self) -> str:
        """A runner reports an attempt that ended (answered after the decision's commit)."""
        return self.command("steps.report")

    def project_command(self, action: str) -> str:
        """A projects command (``create``, ``pipelines.save``, ``environments.get``...),
        owned by the scheduler."""
        if not re.fullmatch(r"[a-z]+(\.[a-z]+)?", action):
            raise ValueError(f"not a projects action: {action!r}")
        return self.command(f"projects.{action}")

    @property
    def step_heartbeat(self) -> str:
        """A runner renews the leases of the attempts it runs (one request for all)."""
        return self.command("steps.heartbeat")

    @property
    def launch_session(self) -> str:
        return self.command("sessions.launch")

    @property
    def stop_session(self) -> str:
        return self.command("sessions.stop")

    @property
    def restart_session(self) -> str:
        return self.command("sessions.restart")

    def environment_command(self, action: str) -> str:
        """An environment builds command (``build``, ``cancel``, ``builds``,
        ``resolve``, ``pin``), owned by the session manager."""
        if not re.fullmatch(r"[a-z]+", action):
            raise ValueError(f"not an environments action: {action!r}")
        return self.command(f"environments.{action}")

    def queue_group(self, service: ServiceName) -> str:
        """Queue group of a service's command endpoints: replicas share the work."""
        return f"{self.prefix}-{service.value}"

    # -- step work (JetStream work queue, one subject per priority)

    def step_work(self, priority: Priority) -> str:
        return f"{self.prefix}.steps.v1.ready.{priority.value}"

    @property
    def steps_stream(self) -> StreamSpec:
        return StreamSpec(
            name=self._stream("STEPS"),
            subjects=tuple(self.step_work(p) for p in Priority),
            retention=Retention.WORK_QUEUE,
            description="Step attempts ready to run; each taken by one runner.",
        )

    def step_work_consumer(self, priority: Priority, ack_wait_seconds: float) -> ConsumerSpec:
        """The durable consumer all runners share for one priority."""
        return ConsumerSpec(
            stream=self.steps_stream.name,
            durable_name=f"step-runners-{priority.value}",
            filter_subject=self.step_work(priority),
            ack_wait_seconds=ack_wait_seconds,
        )

    # -- status events (JetStream, kept for replay and resume)
    #
    # A run's own events and its steps' events share the subject prefix
    # ``<p>.events.v1.run.<pipeline>.<run>.``, so one filter subject selects a
    # run, or a pipeline, and an ordered consumer keeps them in order.

    def run_event(self, pipeline_uuid: str, run_uuid: str) -> str:
        return f"{self.prefix}.events.v1.run.{_tok(pipeline_uuid)}.{_tok(run_uuid)}.status"

    def step_event(self, pipeline_uuid: str, run_uuid: str, step_uuid: str) -> str:
        return (
            f"{self.prefix}.events.v1.run.{_tok(pipeline_uuid)}.{_tok(run_uuid)}"
            f".step.{_tok(step_uuid)}"
        )

    def job_event(self, job_uuid: str) -> str:
        """A job's own status changes."""
        return f"{self.prefix}.events.v1.job.{_tok(job_uuid)}.status"

    def job_run_event(self, job_uuid: str, run_uuid: str) -> str:
        """The status changes of one of a job's runs, repeated under the job
        (the run's own subject carries them too) so one filter follows a job."""
        return f"{self.prefix}.events.v1.job.{_tok(job_uuid)}.run.{_tok(run_uuid)}"

    def job_events(self, job_uuid: str) -> str:
        """Filter for a job's events and its runs' status changes."""
        return f"{self.prefix}.events.v1.job.{_tok(job_uuid)}.>"

    def session_event(self, project_uuid: str, pipeline_uuid: str) -> str:
        return f"{self.prefix}.events.v1.session.{_tok(project_uuid)}.{_tok(pipeline_uuid)}"

    def project_event(self, project_uuid: str) -> str:
        """A project's files changed on disk (``ProjectChanged``)."""
        return f"{self.prefix}.events.v1.project.{_tok(project_uuid)}.changed"

    def project_events(self, project_uuid: str) -> str:
        """Filter for a project's events."""
        return f"{self.prefix}.events.v1.project.{_tok(project_uuid)}.>"

    def environment_build_event(self, project_uuid: str, environment_uuid: str) -> str:
        """A build of an environment changed status (``EnvironmentBuildChanged``)."""
        return (
            f"{self.prefix}.events.v1.environment.{_tok(project_uuid)}"
            f".{_tok(environment_uuid)}.build"
        )

    def environment_events(self, environment_uuid: str) -> str:
        """Filter for the build events of one environment."""
        return f"{self.prefix}.events.v1.environment.*.{_tok(environment_uuid)}.>"

    @property
    def all_events(self) -> str:
        return f"{self.prefix}.events.v1.>"

    def pipeline_events(self, pipeline_uuid: str) -> str:
        """Filter for every run and step event of one pipeline."""
        return f"{self.prefix}.events.v1.run.{_tok(pipeline_uuid)}.>"

    def run_status_events(self, pipeline_uuid: str) -> str:
        """Filter for the run status events (not the steps') of one pipeline."""
        return f"{self.prefix}.events.v1.run.{_tok(pipeline_uuid)}.*.status"

    def run_events(self, run_uuid: str) -> str:
        """Filter for every event of one run (its own and its steps')."""
        return f"{self.prefix}.events.v1.run.*.{_tok(run_uuid)}.>"

    @property
    def events_stream(self) -> StreamSpec:
        return StreamSpec(
            name=self._stream("EVENTS"),
            subjects=(self.all_events,),
            retention=Retention.LIMITS,
            max_age_seconds=7 * 24 * 3600.0,
            description="Status changes of runs, steps, jobs and sessions.",
        )

    # -- step reports (runner -> scheduler, JetStream work queue)

    def step_report(self, run_uuid: str, step_uuid: str) -> str:
        return f"{self.prefix}.reports.v1.step.{_tok(run_uuid)}.{_tok(step_uuid)}"

    @property
    def all_reports(self) -> str:
        return f"{self.prefix}.reports.v1.>"

    @property
    def reports_stream(self) -> StreamSpec:
        return StreamSpec(
            name=self._stream("REPORTS"),
            subjects=(self.all_reports,),
            retention=Retention.WORK_QUEUE,
            description="What runners report of the attempts they ran; the scheduler consumes.",
        )

    def scheduler_reports_consumer(self, ack_wait_seconds: float) -> ConsumerSpec:
        """The scheduler's durable consumer of step reports (advances the DAG)."""
        return ConsumerSpec(
            stream=self.reports_stream.name,
            durable_name="scheduler-reports",
            filter_subject=self.all_reports,
            ack_wait_seconds=ack_wait_seconds,
        )

    # -- artifacts (JetStream object store)

    @property
    def artifacts_bucket(self) -> str:
        """Object store of run artifacts, keyed ``<run>/<step>/<attempt>/<name>``."""
        return self._stream("ARTIFACTS")

    @property
    def definitions_bucket(self) -> str:
        """Object store of frozen pipeline definitions, keyed by content hash."""
        return self._stream("DEFINITIONS")

    @staticmethod
    def artifact_key(run_uuid: str, step_uuid: str, attempt: int, name: str) -> str:
        return f"{_tok(run_uuid)}/{_tok(step_uuid)}/{attempt}/{name}"

    # -- logs (JetStream, per step)

    def step_log(self, run_uuid: str, step_uuid: str) -> str:
        return f"{self.prefix}.logs.v1.{_tok(run_uuid)}.{_tok(step_uuid)}"

    def run_logs(self, run_uuid: str) -> str:
        """Filter for the logs of every step of one run."""
        return f"{self.prefix}.logs.v1.{_tok(run_uuid)}.>"

    def build_log(self, build_uuid: str) -> str:
        """The log of an environment build (``BuildLogChunk``); ``build`` is
        never a run uuid, so no run's filter takes it."""
        return f"{self.prefix}.logs.v1.build.{_tok(build_uuid)}"

    @property
    def all_logs(self) -> str:
        return f"{self.prefix}.logs.v1.>"

    @property
    def logs_stream(self) -> StreamSpec:
        return StreamSpec(
            name=self._stream("LOGS"),
            subjects=(self.all_logs,),
            retention=Retention.LIMITS,
            max_age_seconds=30 * 24 * 3600.0,
            description="Output of step attempts, in order.",
        )

    # -- control signals (core NATS: whichever runner holds the step acts)

    def cancel_step(self, run_uuid: str, step_uuid: str) -> str:
        return f"{self.prefix}.control.v1.cancel.{_tok(run_uuid)}.{_tok(step_uuid)}"

    @property
    def all_cancels(self) -> str:
        return f"{self.prefix}.control.v1.cancel.>"

    def cancel_build(self, build_uuid: str) -> str:
        """An environment build cancelled: whichever session manager runs it stops it."""
        return f"{self.prefix}.control.v1.build-cancel.{_tok(build_uuid)}"

    @property
    def all_build_cancels(self) -> str:
        return f"{self.prefix}.control.v1.build-cancel.*"

    @property
    def streams(self) -> tuple[StreamSpec, ...]:
        return (self.steps_stream, self.events_stream, self.reports_stream, self.logs_stream)

    def _stream(self, family: str) -> str:
        return f"{self.prefix.upper()}_{family}"


def _tok(value: str) -> str:
    """A uuid used as one subject token: refuse what would change the subject's shape."""
    if not _TOKEN.fullmatch(value):
        raise ValueError(f"not a valid subject token: {value!r}")
    return value
