"""Commands: imperative requests to the owning service (NATS request/reply).

Each command carries an optional ``idempotency_key``: the owner answers the
same key with the same result and never acts twice. ``StepWork`` and
``CancelStep`` are the scheduler's orders to the step runners.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from typing import Any, Self, TypeVar

from pydantic import (
    BaseModel,
    Field,
    ModelWrapValidatorHandler,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from ._base import Message
from .pipeline import INT32_MAX, PipelineDefinition, PipelineStep
from .status import Priority, RunType


def _one_empty_parameter_set() -> list[dict[str, dict[str, Any]]]:
    return [{}]


REFERENCE_FIELDS = ("project_uuid", "pipeline_uuid")

ModelT = TypeVar("ModelT", bound=BaseModel)


def _one_form(
    model: type[ModelT],
    data: Any,
    handler: ModelWrapValidatorHandler[ModelT],
    inline_fields: tuple[str, ...],
) -> ModelT:
    """A pipeline given inline (``inline_fields``) or by reference
    (``project_uuid`` and ``pipeline_uuid``), never both: what is missing or
    out of place is listed with every other problem of the body."""
    form: list[InitErrorDetails] = []
    if isinstance(data, dict):
        by_reference = data.get("pipeline_uuid") is not None
        needed = REFERENCE_FIELDS if by_reference else inline_fields
        for name in needed:
            if data.get(name) is None:
                form.append({"type": "missing", "loc": (name,), "input": data})
        for name in inline_fields if by_reference else ():
            if data.get(name) is not None:
                error = PydanticCustomError(
                    "form_mixed",
                    "give {this} (inline) or project_uuid and pipeline_uuid, not both",
                    {"this": name},
                )
                form.append({"type": error, "loc": (name,), "input": data[name]})
    try:
        value = handler(data)
    except ValidationError as exc:
        if not form:
            raise
        known = {tuple(f["loc"]) for f in form}
        others: list[InitErrorDetails] = [
            {
                "type": PydanticCustomError(e["type"], "{msg}", {"msg": e["msg"]}),
                "loc": e["loc"],
                "input": e["input"],
            }
            for e in exc.errors()
            if tuple(e["loc"]) not in known
        ]
        raise ValidationError.from_exception_data(model.__name__, [*others, *form]) from None
    if form:
        raise ValidationError.from_exception_data(model.__name__, form)
    return value


class Command(Message):
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)


class RunConfig(Message):
    project_dir: str
    project_uuid: str | None = None
    pipeline_path: str | None = None
    """The pipeline file, relative to the project (informational)."""
    env_variables: dict[str, str] = Field(default_factory=dict)


class CreateRun(Command):
    """Start an interactive run (or a partial run) of a pipeline: given
    inline (``pipeline_definition`` and ``run_config``), or by reference
    (``project_uuid`` and ``pipeline_uuid``: the pipeline file is read and
    frozen when the run is accepted)."""

    pipeline_definition: PipelineDefinition | None = None
    run_type: RunType = RunType.FULL
    uuids: list[str] = Field(default_factory=list)
    """The selected steps (ignored for ``full``); for ``rerun_failed``, one run uuid."""
    run_config: RunConfig | None = None
    project_uuid: str | None = Field(default=None, min_length=1, max_length=64)
    pipeline_uuid: str | None = Field(default=None, min_length=1, max_length=255)
    env_variables: dict[str, str] | None = None
    """The run's env variables, over the project's (the reference form only;
    inline, they are ``run_config.env_variables``)."""

    @model_validator(mode="wrap")
    @classmethod
    def _one_form(cls, data: Any, handler: ModelWrapValidatorHandler[CreateRun]) -> CreateRun:
        return _one_form(cls, data, handler, ("pipeline_definition", "run_config"))

    @model_validator(mode="after")
    def _env_where_it_belongs(self) -> CreateRun:
        if self.run_config is not None and self.env_variables is not None:
            raise ValueError("inline, a run's env variables are run_config.env_variables")
        return self

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, **options: Any) -> Self:
        """As pydantic's; the same bytes as a command parsed lately (the
        gateway sends a pipeline's command again and again unchanged) give
        that command again, not validated twice: exact, as parsing is a
        function of the bytes, and safe to share, as the model is frozen.
        Anything else (bad commands included, which are never kept) is
        parsed as usual."""
        if options or type(json_data) is not bytes or len(json_data) > _PARSED_MAX_BYTES:
            return super().model_validate_json(json_data, **options)
        global _parsed_held
        parsed = _PARSED.get((cls, json_data))
        if parsed is None:
            parsed = super().model_validate_json(json_data)
            _PARSED[cls, json_data] = parsed
            _parsed_held += len(json_data)
            while len(_PARSED) > _PARSED_MAX_ENTRIES or _parsed_held > _PARSED_MAX_HELD:
                (_, old), _ = _PARSED.popitem(last=False)
                _parsed_held -= len(old)
        else:
            _PARSED.move_to_end((cls, json_data))
        assert isinstance(parsed, cls)
        return parsed


_PARSED: OrderedDict[tuple[type[CreateRun], bytes], CreateRun] = OrderedDict()
"""``CreateRun`` commands parsed lately, by their JSON (least recent first):
at most 64, of at most 64 kB each and 256 kB in all (parsed, a command takes
about 17 times its JSON's size)."""
_PARSED_MAX_ENTRIES = 64
_PARSED_MAX_BYTES = 64 * 1024
_PARSED_MAX_HELD = 256 * 1024
_parsed_held = 0


class AbortRun(Command):
    run_uuid: str


class JobSchedule(Message):
    """When a job runs: now (all empty), once at ``scheduled_start``, or on ``cron_schedule``."""

    scheduled_start: datetime | None = None
    cron_schedule: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_kind(self) -> JobSchedule:
        if self.scheduled_start is not None and self.cron_schedule is not None:
            raise ValueError("give scheduled_start or cron_schedule, not both")
        return self


class PipelineRunSpec(Message):
    run_type: RunType = RunType.FULL
    uuids: list[str] = Field(default_factory=list)


ParameterSet = dict[str, dict[str, Any]]
"""One run's parameters, Orchest's shape: ``{"pipeline_parameters": {...},
"<step uuid>": {...}}``; each part overrides the definition's values."""

PIPELINE_PARAMETERS = "pipeline_parameters"


class CreateJob(Command):
    """A job: the definition and the project frozen now, run once per
    parameter set on each execution of its schedule."""

    name: str = Field(min_length=1, max_length=255)
    pipeline_definition: PipelineDefinition | None = None
    project_dir: str | None = None
    project_uuid: str | None = None
    pipeline_uuid: str | None = Field(default=None, min_length=1, max_length=255)
    """With ``project_uuid`` instead of ``pipeline_definition`` and
    ``project_dir``: the project's pipeline file, read and frozen now."""
    pipeline_run_spec: PipelineRunSpec = Field(default_factory=PipelineRunSpec)
    parameters: list[ParameterSet] = Field(
        default_factory=_one_empty_parameter_set, min_length=1, max_length=10_000
    )
    """One run per parameter set per execution."""
    env_variables: dict[str, str] = Field(default_factory=dict)
    schedule: JobSchedule = Field(default_factory=JobSchedule)
    max_retained_pipeline_runs: int = Field(default=-1, ge=-1, le=INT32_MAX)
    """-1 keeps every run."""
    max_parallel_runs: int | None = Field(default=None, ge=1, le=INT32_MAX)
    """Runs of this job executing at once; the scheduler's default when left out."""
    draft: bool = False

    @model_validator(mode="wrap")
    @classmethod
    def _one_form(cls, data: Any, handler: ModelWrapValidatorHandler[CreateJob]) -> CreateJob:
        return _one_form(cls, data, handler, ("pipeline_definition", "project_dir"))


class PreviewSchedule(Message):
    """When a cron schedule would fire next, after the scheduler's now (a
    read: computed by the rules the scheduler fires jobs by, nothing stored)."""

    cron_schedule: str = Field(min_length=1, max_length=255)
    count: int = Field(default=5, ge=1, le=50)


class UpdateJob(Command):
    """Change a job; fields left out stay as they are. A changed schedule or
    parameters apply from the next execution on."""

    job_uuid: str
    name: str | None = Field(default=None, min_length=1, max_length=255)
    cron_schedule: str | None = Field(default=None, min_length=1)
    parameters: list[ParameterSet] | None = Field(default=None, min_length=1, max_length=10_000)
    env_variables: dict[str, str] | None = None
    max_retained_pipeline_runs: int | None = Field(default=None, ge=-1, le=INT32_MAX)
    max_parallel_runs: int | None = Field(default=None, ge=1, le=INT32_MAX)
    confirm_draft: bool = False
    """Turn a draft into a live job: its schedule starts (now, if it has none)."""
    paused: bool | None = None
    """True pauses (no new execution, queued runs held), False resumes."""


class TriggerJob(Command):
    """One execution of the job now, whatever its schedule."""

    job_uuid: str


class CancelJob(Command):
    """No more executions; live runs aborted; history kept."""

    job_uuid: str


class AbortJobRun(Command):
    job_uuid: str
    run_uuid: str


class LaunchSession(Command):
    """A pipeline's interactive session. ``project_dir`` and ``pipeline_path``
    may be left out for a project the stack knows (``/api/projects``): they
    are then read from the project and its pipeline file."""

    project_uuid: str
    pipeline_uuid: str
    project_dir: str | None = None
    pipeline_path: str | None = None
    runtime: str | None = None
    """``docker`` or ``process``; the deployment's default when left out."""


class StopSession(Command):
    project_uuid: str
    pipeline_uuid: str


class RestartSession(Command):
    project_uuid: str
    pipeline_uuid: str


class StepWork(Message):
    """One step attempt to execute, on the ``STEPS`` work-queue stream.

    Self-contained: the runner needs nothing else to run the attempt, and the
    frozen definition is the one the run started with.
    """

    run_uuid: str
    step_uuid: str
    attempt: PositiveInt
    priority: Priority
    definition_key: str
    """The run's frozen definition, in the definitions object store (by content hash)."""
    pipeline_definition: PipelineDefinition | None = None
    """Left out on the bus; the runner fills it in from ``definition_key``."""
    project_dir: str
    project_uuid: str | None = None
    job_uuid: str | None = None
    env_variables: dict[str, str] = Field(default_factory=dict)
    timeout_seconds: PositiveFloat | None = None
    environment_venv: str | None = None
    """Left out on the bus: the venv of the step's environment's build, which
    the runner resolves (``docs/environments.md#use``)."""
    environment_image: str | None = None
    """Left out on the bus: the image of the step's environment's build."""

    @property
    def definition(self) -> PipelineDefinition:
        if self.pipeline_definition is None:
            raise LookupError(f"the definition {self.definition_key} was not resolved")
        return self.pipeline_definition

    @property
    def step(self) -> PipelineStep:
        return self.definition.steps[self.step_uuid]


class CancelStep(Message):
    """Stop an attempt now (abort, timeout decided by the scheduler).

    Sent on core NATS to the step's control subject: whichever runner holds
    the attempt kills it.
    """

    run_uuid: str
    step_uuid: str
    attempt: PositiveInt | None = None
    """``None`` cancels whatever attempt is running."""
    reason: str = "aborted"
