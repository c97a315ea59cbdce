"""Events, commands, error replies and status values as they cross the bus."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from orchest_schemas import commands, environments, errors, events, projects, reports
from orchest_schemas._base import Message
from orchest_schemas.commands import (
    AbortJobRun,
    AbortRun,
    CancelJob,
    CancelStep,
    Command,
    CreateJob,
    CreateRun,
    JobSchedule,
    LaunchSession,
    PipelineRunSpec,
    RestartSession,
    RunConfig,
    StepWork,
    StopSession,
    TriggerJob,
    UpdateJob,
)
from orchest_schemas.errors import ErrorBody, ErrorCode, ErrorDetail, ErrorReply
from orchest_schemas.events import (
    ANY_EVENT,
    BuildLogChunk,
    EnvironmentBuildChanged,
    Event,
    JobStatusChanged,
    RunStatusChanged,
    SessionStatusChanged,
    StepLogChunk,
    StepStatusChanged,
)
from orchest_schemas.health import HealthReport, ServiceHealth
from orchest_schemas.pipeline import PipelineDefinition
from orchest_schemas.reports import ClaimStep, StepAttemptFinished, StepClaim
from orchest_schemas.runs import RunList, RunView, StepView
from orchest_schemas.status import (
    BuildStatus,
    JobStatus,
    Priority,
    RunStatus,
    RunType,
    SessionStatus,
    StepStatus,
)
from orchest_service.log_publisher import split_text

DATA_DIR = Path(__file__).resolve().parents[1] / "data" / "pipelines"

PIPELINE = "967e5b04-f95f-4345-9aa4-07b4e04d5bcd"
RUN = "27490fb0-b4b7-4e85-b612-804ae7962863"
STEP = "e80ce5f8-544f-44e6-b6be-d794318bbd68"
JOB = "b28e265e-fd0f-41fe-bded-b877ad3686d2"
PROJECT = "54b39437-ec14-462d-8636-0b7e35e16748"
AT = datetime(2022, 10, 3, 14, 5, 9, 123456, tzinfo=UTC)


def _raw_pipeline(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA_DIR / name).read_text())
    return data


def _assert_contains(original: Any, sent: Any, where: str = "$") -> None:
    """Every key and value of ``original`` is in ``sent``, recursively."""
    if isinstance(original, dict):
        assert isinstance(sent, dict), where
        for key, value in original.items():
            assert key in sent, f"{where}.{key} lost"
            _assert_contains(value, sent[key], f"{where}.{key}")
    elif isinstance(original, list):
        assert isinstance(sent, list) and len(sent) == len(original), where
        for i, (a, b) in enumerate(zip(original, sent, strict=True)):
            _assert_contains(a, b, f"{where}[{i}]")
    else:
        assert original == sent, f"{where}: {original!r} != {sent!r}"


# -- events ------------------------------------------------------------------------------

SAMPLE_EVENTS: dict[str, Event] = {
    "run_status_changed": RunStatusChanged(
        run_uuid=RUN, pipeline_uuid=PIPELINE, job_uuid=JOB, status=RunStatus.STARTED, sequence=3
    ),
    "step_status_changed": StepStatusChanged(
        run_uuid=RUN,
        pipeline_uuid=PIPELINE,
        step_uuid=STEP,
        attempt=2,
        status=StepStatus.FAILURE,
        exit_code=137,
        error="killed",
        runner_id="runner-1",
        sequence=4,
        artifacts=["out.ipynb", "report.html"],
    ),
    "job_status_changed": JobStatusChanged(
        job_uuid=JOB, status=JobStatus.PAUSED, next_scheduled_time=AT + timedelta(hours=1)
    ),
    "session_status_changed": SessionStatusChanged(
        project_uuid=PROJECT, pipeline_uuid=PIPELINE, status=SessionStatus.FAILED, reason="oom"
    ),
    "project_changed": events.ProjectChanged(
        project_uuid=PROJECT, paths=["main.orchest", "data/x.csv"], pipelines=["main.orchest"]
    ),
    "step_log_chunk": StepLogChunk(
        run_uuid=RUN, step_uuid=STEP, attempt=1, offset=4096, data="epoch 1/5 loss=0.31\n"
    ),
    "environment_build_changed": EnvironmentBuildChanged(
        project_uuid="p1",
        environment_uuid="e1",
        build_uuid="b1",
        status=BuildStatus.FAILURE,
        reason="the setup script failed (exit code 3)",
        exit_code=3,
    ),
    "build_log_chunk": BuildLogChunk(build_uuid="b1", offset=0, data="Installed 1 package\n"),
}
EVENT_IDS = list(SAMPLE_EVENTS)


def test_every_event_class_is_a_member_of_any_event() -> None:
    # A new event class not added to AnyEvent could not be read off the bus;
    # every class needs a sample here, and every sample must parse by kind.
    classes = {type(e) for e in SAMPLE_EVENTS.values()}
    assert set(Event.__subclasses__()) == classes
    for kind, event in SAMPLE_EVENTS.items():
        assert event.kind == kind  # type: ignore[attr-defined]
        assert type(ANY_EVENT.validate_python(event.model_dump())) is type(event)


@pytest.mark.parametrize("kind", EVENT_IDS)
def test_event_round_trips_to_its_class_by_kind(kind: str) -> None:
    event = SAMPLE_EVENTS[kind]
    data = event.to_bytes()

    assert json.loads(data)["kind"] == kind
    parsed = ANY_EVENT.validate_json(data)
    assert type(parsed) is type(event)
    assert parsed == event
    assert parsed.event_id == event.event_id
    assert parsed.occurred_at == event.occurred_at
    assert parsed.occurred_at.tzinfo is not None
    assert type(event).from_bytes(data) == event


@pytest.mark.parametrize("kind", EVENT_IDS)
def test_event_of_another_kind_is_refused_by_a_specific_class(kind: str) -> None:
    data = SAMPLE_EVENTS[kind].to_bytes()
    for other_kind, other in SAMPLE_EVENTS.items():
        if other_kind != kind:
            with pytest.raises(ValidationError):
                type(other).from_bytes(data)


def test_unknown_or_missing_kind_is_refused() -> None:
    raw = json.loads(SAMPLE_EVENTS["run_status_changed"].to_bytes())
    with pytest.raises(ValidationError) as exc:
        ANY_EVENT.validate_json(json.dumps({**raw, "kind": "run_exploded"}))
    assert exc.value.errors()[0]["type"] == "union_tag_invalid"
    del raw["kind"]
    with pytest.raises(ValidationError) as exc:
        ANY_EVENT.validate_json(json.dumps(raw))
    assert exc.value.errors()[0]["type"] == "union_tag_not_found"


@pytest.mark.parametrize("kind", EVENT_IDS)
def test_unknown_fields_from_a_newer_writer_are_ignored(kind: str) -> None:
    event = SAMPLE_EVENTS[kind]
    raw = json.loads(event.to_bytes())
    raw["added_in_v1_1"] = {"nested": [1, 2, 3]}
    raw["priority_hint"] = "high"

    parsed = ANY_EVENT.validate_json(json.dumps(raw))
    assert parsed == event
    assert "added_in_v1_1" not in parsed.model_dump()
    assert b"priority_hint" not in parsed.to_bytes()


def test_event_ids_are_unique_by_default() -> None:
    ids = [RunStatusChanged(run_uuid=RUN, pipeline_uuid=PIPELINE, status="PENDING").event_id]
    ids += [
        StepLogChunk(run_uuid=RUN, step_uuid=STEP, attempt=1, offset=0, data="").event_id
        for _ in range(500)
    ]
    assert all(ids)
    assert len(set(ids)) == len(ids)


def test_given_event_id_and_time_are_kept() -> None:
    event = RunStatusChanged(
        event_id="abc", occurred_at=AT, run_uuid=RUN, pipeline_uuid=PIPELINE, status="SUCCESS"
    )
    parsed = ANY_EVENT.validate_json(event.to_bytes())
    assert parsed.event_id == "abc"
    assert parsed.occurred_at == AT


def test_occurred_at_defaults_to_now_in_utc() -> None:
    before = datetime.now(UTC)
    event = JobStatusChanged(job_uuid=JOB, status=JobStatus.STARTED)
    after = datetime.now(UTC)
    assert event.occurred_at.utcoffset() == timedelta(0)
    assert before <= event.occurred_at <= after


@pytest.mark.parametrize(
    ("cls", "fields", "loc"),
    [
        (
            StepStatusChanged,
            {"run_uuid": RUN, "pipeline_uuid": PIPELINE, "step_uuid": STEP, "attempt": -1},
            ("attempt",),
        ),
        (
            StepStatusChanged,
            {
                "run_uuid": RUN,
                "pipeline_uuid": PIPELINE,
                "step_uuid": STEP,
                "attempt": 1,
                "sequence": -1,
            },
            ("sequence",),
        ),
        (
            RunStatusChanged,
            {"run_uuid": RUN, "pipeline_uuid": PIPELINE, "sequence": -1},
            ("sequence",),
        ),
        (
            StepLogChunk,
            {"run_uuid": RUN, "step_uuid": STEP, "attempt": 0, "offset": 0},
            ("attempt",),
        ),
        (
            StepLogChunk,
            {"run_uuid": RUN, "step_uuid": STEP, "attempt": 1, "offset": -1},
            ("offset",),
        ),
        (
            RunStatusChanged,
            {"run_uuid": RUN, "pipeline_uuid": PIPELINE, "status": "DONE"},
            ("status",),
        ),
        (JobStatusChanged, {"job_uuid": JOB, "status": "RUNNING"}, ("status",)),
    ],
)
def test_event_field_checks(cls: type[Event], fields: dict[str, Any], loc: tuple[str]) -> None:
    fields = {"status": "STARTED", "data": "x", **fields}
    with pytest.raises(ValidationError) as exc:
        cls.model_validate(fields)
    assert [tuple(e["loc"]) for e in exc.value.errors()] == [loc]


def test_step_event_of_a_step_that_never_got_an_attempt() -> None:
    # A step aborted before it was dispatched is announced with attempt 0.
    event = StepStatusChanged(
        run_uuid=RUN,
        pipeline_uuid=PIPELINE,
        step_uuid=STEP,
        attempt=0,
        status=StepStatus.ABORTED,
        error="the run was aborted",
    )
    parsed = ANY_EVENT.validate_json(event.to_bytes())
    assert parsed == event
    assert isinstance(parsed, StepStatusChanged)
    assert parsed.attempt == 0
    assert parsed.sequence == 0
    assert parsed.artifacts == []
    assert parsed.runner_id is None


def test_event_sequence_and_artifacts_survive_the_wire() -> None:
    step = SAMPLE_EVENTS["step_status_changed"]
    raw = json.loads(step.to_bytes())
    assert raw["sequence"] == 4
    assert raw["artifacts"] == ["out.ipynb", "report.html"]
    parsed = ANY_EVENT.validate_json(step.to_bytes())
    assert isinstance(parsed, StepStatusChanged)
    assert parsed.artifacts == ["out.ipynb", "report.html"]
    run = ANY_EVENT.validate_json(SAMPLE_EVENTS["run_status_changed"].to_bytes())
    assert isinstance(run, RunStatusChanged)
    assert run.sequence == 3
    # An older writer without them: defaults.
    del raw["sequence"], raw["artifacts"]
    old = StepStatusChanged.model_validate(raw)
    assert old.sequence == 0
    assert old.artifacts == []


# -- frozen ------------------------------------------------------------------------------

FROZEN_CASES: list[tuple[Message, str, Any]] = [
    (SAMPLE_EVENTS["run_status_changed"], "status", RunStatus.SUCCESS),
    (SAMPLE_EVENTS["step_status_changed"], "attempt", 3),
    (SAMPLE_EVENTS["step_log_chunk"], "event_id", "other"),
    (AbortRun(run_uuid=RUN), "run_uuid", "other"),
    (JobSchedule(cron_schedule="0 * * * *"), "cron_schedule", None),
    (CancelStep(run_uuid=RUN, step_uuid=STEP), "reason", "timeout"),
    (ErrorReply(code=ErrorCode.INVALID, message="bad"), "code", ErrorCode.INTERNAL),
]


@pytest.mark.parametrize(
    ("message", "field", "value"),
    FROZEN_CASES,
    ids=[f"{type(m).__name__}.{f}" for m, f, _ in FROZEN_CASES],
)
def test_messages_are_frozen(message: Message, field: str, value: Any) -> None:
    before = getattr(message, field)
    with pytest.raises(ValidationError) as exc:
        setattr(message, field, value)
    assert exc.value.errors()[0]["type"] == "frozen_instance"
    assert getattr(message, field) == before


# -- commands ----------------------------------------------------------------------------

ENVIRONMENT = "3c6e3a1a-7b9f-4c1e-9f0e-1a2b3c4d5e6f"
MINIMAL_COMMANDS: dict[type[Command], dict[str, Any]] = {
    CreateRun: {
        "pipeline_definition": {"uuid": PIPELINE},
        "run_config": {"project_dir": "/projects/p"},
    },
    AbortRun: {"run_uuid": RUN},
    CreateJob: {
        "name": "nightly",
        "pipeline_definition": {"uuid": PIPELINE},
        "project_dir": "/projects/p",
    },
    UpdateJob: {"job_uuid": JOB},
    TriggerJob: {"job_uuid": JOB},
    CancelJob: {"job_uuid": JOB},
    AbortJobRun: {"job_uuid": JOB, "run_uuid": RUN},
    LaunchSession: {
        "project_uuid": PROJECT,
        "pipeline_uuid": PIPELINE,
        "project_dir": "/projects/p",
        "pipeline_path": "main.orchest",
    },
    StopSession: {"project_uuid": PROJECT, "pipeline_uuid": PIPELINE},
    RestartSession: {"project_uuid": PROJECT, "pipeline_uuid": PIPELINE},
    projects.CreateProject: {"name": "demo"},
    projects.UpdateProject: {"project_uuid": PROJECT},
    projects.DeleteProject: {"project_uuid": PROJECT},
    projects.ListProjects: {},
    projects.GetProject: {"project_uuid": PROJECT},
    projects.ListPipelines: {"project_uuid": PROJECT},
    projects.GetPipeline: {"project_uuid": PROJECT, "pipeline_uuid": PIPELINE},
    projects.CreatePipeline: {"project_uuid": PROJECT, "path": "p.orchest", "name": "p"},
    projects.SavePipeline: {
        "project_uuid": PROJECT,
        "pipeline_uuid": PIPELINE,
        "definition": {"uuid": PIPELINE},
    },
    projects.DeletePipeline: {"project_uuid": PROJECT, "pipeline_uuid": PIPELINE},
    projects.SetPipelineEnv: {
        "project_uuid": PROJECT,
        "pipeline_uuid": PIPELINE,
        "env_variables": {"A": "1"},
    },
    projects.ListFiles: {"project_uuid": PROJECT},
    projects.ReadFile: {"project_uuid": PROJECT, "path": "a.py"},
    projects.WriteFile: {"project_uuid": PROJECT, "path": "a.py", "content": ""},
    projects.CreateStepFile: {"project_uuid": PROJECT, "path": "a.py", "template": "python"},
    projects.MoveFile: {"project_uuid": PROJECT, "source": "a.py", "destination": "b.py"},
    projects.DeleteFile: {"project_uuid": PROJECT, "path": "a.py"},
    environments.ListEnvironments: {"project_uuid": PROJECT},
    environments.GetEnvironment: {"project_uuid": PROJECT, "environment_uuid": ENVIRONMENT},
    environments.CreateEnvironment: {"project_uuid": PROJECT, "spec": {"name": "Python"}},
    environments.UpdateEnvironment: {"project_uuid": PROJECT, "environment_uuid": ENVIRONMENT},
    environments.DeleteEnvironment: {"project_uuid": PROJECT, "environment_uuid": ENVIRONMENT},
    environments.BuildEnvironment: {"project_uuid": PROJECT, "environment_uuid": ENVIRONMENT},
    environments.CancelBuild: {
        "project_uuid": PROJECT,
        "environment_uuid": ENVIRONMENT,
        "build_uuid": "b1",
    },
    environments.ListBuilds: {"project_uuid": PROJECT},
    environments.ResolveEnvironment: {"environment_uuid": ENVIRONMENT},
    environments.PinEnvironments: {
        "job_uuid": "j1",
        "project_uuid": PROJECT,
        "environment_uuids": [ENVIRONMENT],
    },
}
COMMAND_IDS = [c.__name__ for c in MINIMAL_COMMANDS]


def test_minimal_command_table_covers_every_command() -> None:
    assert set(Command.__subclasses__()) == set(MINIMAL_COMMANDS)


@pytest.mark.parametrize("cls", MINIMAL_COMMANDS, ids=COMMAND_IDS)
def test_command_round_trips(cls: type[Command]) -> None:
    command = cls.model_validate({**MINIMAL_COMMANDS[cls], "idempotency_key": "k-1"})
    assert command.idempotency_key == "k-1"
    assert cls.from_bytes(command.to_bytes()) == command


@pytest.mark.parametrize("cls", MINIMAL_COMMANDS, ids=COMMAND_IDS)
@pytest.mark.parametrize(
    ("key", "ok"),
    [(None, True), ("k", True), ("k" * 200, True), ("", False), ("k" * 201, False)],
    ids=["none", "len1", "len200", "empty", "len201"],
)
def test_idempotency_key_length(cls: type[Command], key: str | None, ok: bool) -> None:
    fields = {**MINIMAL_COMMANDS[cls], "idempotency_key": key}
    if ok:
        assert cls.model_validate(fields).idempotency_key == key
    else:
        with pytest.raises(ValidationError) as exc:
            cls.model_validate(fields)
        assert [tuple(e["loc"]) for e in exc.value.errors()] == [("idempotency_key",)]


def test_idempotency_key_defaults_to_none() -> None:
    assert AbortRun(run_uuid=RUN).idempotency_key is None


@pytest.mark.parametrize("name", ["feature-fan-out.orchest", "plugin-extras.orchest"])
def test_create_run_carries_a_real_pipeline_file(name: str) -> None:
    raw = _raw_pipeline(name)
    selected = list(raw["steps"])[:2]
    command = CreateRun(
        pipeline_definition=PipelineDefinition.model_validate(raw),
        run_type=RunType.SELECTION_WITH_ANCESTORS,
        uuids=selected,
        run_config=RunConfig(project_dir="/userdir/projects/demo"),
        idempotency_key="ui-click-42",
    )
    data = command.to_bytes()

    parsed = CreateRun.from_bytes(data)
    assert parsed == command
    assert parsed.run_type is RunType.SELECTION_WITH_ANCESTORS
    assert parsed.uuids == selected
    assert parsed.run_config.project_dir == "/userdir/projects/demo"
    # The message ignores unknown fields, but the definition inside keeps them.
    _assert_contains(raw, json.loads(data)["pipeline_definition"])
    assert (
        parsed.pipeline_definition.model_extra == PipelineDefinition.model_validate(raw).model_extra
    )


def test_create_run_keeps_unknown_pipeline_fields_end_to_end() -> None:
    raw = _raw_pipeline("plugin-extras.orchest")
    wire = json.dumps(
        {
            "pipeline_definition": raw,
            "run_config": {"project_dir": "/p"},
            "client_version": "2.0",  # unknown to this reader: ignored
        }
    )
    parsed = CreateRun.model_validate_json(wire)
    definition = parsed.pipeline_definition
    assert definition.model_dump(mode="json", exclude_unset=True) == raw
    assert "client_version" not in parsed.model_dump()


def test_create_run_defaults_and_required_fields() -> None:
    command = CreateRun.model_validate(MINIMAL_COMMANDS[CreateRun])
    assert command.run_type is RunType.FULL
    assert command.uuids == []
    # A run's job is the scheduler's to set: a client's job_uuid is ignored.
    given = CreateRun.model_validate({**MINIMAL_COMMANDS[CreateRun], "job_uuid": JOB})
    assert "job_uuid" not in given.model_dump()

    with pytest.raises(ValidationError) as exc:
        CreateRun.model_validate({"pipeline_definition": {"uuid": PIPELINE}, "run_type": "some"})
    assert {tuple(e["loc"]) for e in exc.value.errors()} == {("run_type",), ("run_config",)}


@pytest.mark.parametrize(
    ("fields", "locs"),
    [
        ({"pipeline_uuid": PIPELINE}, {("project_uuid",)}),
        ({"project_uuid": PROJECT}, {("pipeline_definition",), ("run_config",)}),
        (
            {
                "project_uuid": PROJECT,
                "pipeline_uuid": PIPELINE,
                "pipeline_definition": {"uuid": PIPELINE},
            },
            {("pipeline_definition",)},
        ),
        (
            {
                "pipeline_definition": {"uuid": PIPELINE},
                "run_config": {"project_dir": "/p"},
                "env_variables": {"A": "1"},
            },
            {()},
        ),
        ({"pipeline_uuid": PIPELINE, "run_type": "some"}, {("project_uuid",), ("run_type",)}),
    ],
    ids=["reference-no-project", "no-pipeline", "both-forms", "env-inline", "with-others"],
)
def test_a_run_is_inline_or_by_reference(
    fields: dict[str, Any], locs: set[tuple[Any, ...]]
) -> None:
    with pytest.raises(ValidationError) as exc:
        CreateRun.model_validate(fields)
    assert {tuple(e["loc"]) for e in exc.value.errors()} == locs


def test_a_run_by_reference() -> None:
    command = CreateRun.model_validate(
        {"project_uuid": PROJECT, "pipeline_uuid": PIPELINE, "env_variables": {"A": "1"}}
    )
    assert command.pipeline_definition is None and command.env_variables == {"A": "1"}


def test_create_run_reports_pipeline_shape_errors_under_its_field() -> None:
    raw = _raw_pipeline("california-housing.orchest")
    step = next(iter(raw["steps"]))
    del raw["steps"][step]["file_path"]
    with pytest.raises(ValidationError) as exc:
        CreateRun.model_validate({"pipeline_definition": raw, "run_config": {"project_dir": "/p"}})
    assert [tuple(e["loc"]) for e in exc.value.errors()] == [
        ("pipeline_definition", "steps", step, "file_path")
    ]


def test_job_schedule_refuses_both_start_and_cron() -> None:
    with pytest.raises(ValidationError, match="not both"):
        JobSchedule(scheduled_start=AT, cron_schedule="*/5 * * * *")
    with pytest.raises(ValidationError) as exc:
        CreateJob.model_validate(
            {
                **MINIMAL_COMMANDS[CreateJob],
                "schedule": {"scheduled_start": AT.isoformat(), "cron_schedule": "0 3 * * *"},
            }
        )
    assert [tuple(e["loc"]) for e in exc.value.errors()] == [("schedule",)]


@pytest.mark.parametrize(
    ("start", "cron"),
    [(None, None), (AT, None), (None, "0 3 * * *")],
    ids=["now", "once", "cron"],
)
def test_job_schedule_accepts_one_kind(start: datetime | None, cron: str | None) -> None:
    schedule = JobSchedule(scheduled_start=start, cron_schedule=cron)
    assert JobSchedule.from_bytes(schedule.to_bytes()) == schedule
    assert schedule.scheduled_start == start
    assert schedule.cron_schedule == cron


def test_create_job_defaults() -> None:
    job = CreateJob.model_validate(MINIMAL_COMMANDS[CreateJob])
    assert job.parameters == [{}]  # one run per execution
    assert job.pipeline_run_spec == PipelineRunSpec(run_type=RunType.FULL, uuids=[])
    assert job.schedule == JobSchedule()
    assert job.max_retained_pipeline_runs == -1
    assert job.env_variables == {}
    assert job.draft is False


@pytest.mark.parametrize(
    ("cls", "field", "value"),
    [
        (CreateJob, "name", ""),
        (CreateJob, "name", "n" * 256),
        (CreateJob, "max_retained_pipeline_runs", -2),
        (UpdateJob, "max_retained_pipeline_runs", -2),
    ],
)
def test_job_field_limits(cls: type[Command], field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as exc:
        cls.model_validate({**MINIMAL_COMMANDS[cls], field: value})
    assert [tuple(e["loc"]) for e in exc.value.errors()] == [(field,)]


@pytest.mark.parametrize(
    ("cls", "field", "value"),
    [
        (CreateJob, "name", "n" * 255),
        (CreateJob, "max_retained_pipeline_runs", -1),
        (CreateJob, "max_retained_pipeline_runs", 0),
        (UpdateJob, "max_retained_pipeline_runs", -1),
    ],
)
def test_job_field_limits_accept_the_bounds(cls: type[Command], field: str, value: Any) -> None:
    assert getattr(cls.model_validate({**MINIMAL_COMMANDS[cls], field: value}), field) == value


def test_update_job_leaves_out_what_is_not_given() -> None:
    update = UpdateJob(job_uuid=JOB)
    for field in ("name", "cron_schedule", "parameters", "env_variables", "paused"):
        assert getattr(update, field) is None
    assert update.max_retained_pipeline_runs is None
    assert update.confirm_draft is False


def test_step_work_round_trip_with_definition() -> None:
    raw = _raw_pipeline("r-and-shell.orchest")
    work = StepWork(
        run_uuid=RUN,
        step_uuid="634308cd-39bb-4b0f-8219-3328b17d23bc",
        attempt=1,
        priority=Priority.JOB,
        definition_key="abc123",
        pipeline_definition=PipelineDefinition.model_validate(raw),
        project_dir="/p",
        job_uuid=JOB,
        env_variables={"A": "1"},
        timeout_seconds=30.0,
    )
    parsed = StepWork.from_bytes(work.to_bytes())
    assert parsed == work
    assert parsed.priority is Priority.JOB
    assert parsed.pipeline_definition.steps[work.step_uuid].kernel.name == "ir"
    assert parsed.step is parsed.pipeline_definition.steps[work.step_uuid]
    assert parsed.step.uuid == work.step_uuid
    assert parsed.step.kernel.name == "ir"
    with pytest.raises(ValidationError):
        StepWork.model_validate({**work.model_dump(), "attempt": 0})
    with pytest.raises(ValidationError):
        StepWork.model_validate({**work.model_dump(), "priority": "urgent"})


def test_cancel_step_defaults() -> None:
    cancel = CancelStep(run_uuid=RUN, step_uuid=STEP)
    assert cancel.attempt is None
    assert cancel.reason == "aborted"
    assert CancelStep.from_bytes(cancel.to_bytes()) == cancel


def test_every_message_class_is_frozen_and_ignores_unknown_fields() -> None:
    found = 0
    for module in (commands, events, errors, reports):
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Message):
                assert value.model_config.get("frozen") is True, value
                assert value.model_config.get("extra") == "ignore", value
                found += 1
    assert found >= 23


# -- step reports (runner -> scheduler) ---------------------------------------------------


@pytest.mark.parametrize("redelivered", [False, True])
def test_claim_step_round_trip(redelivered: bool) -> None:
    claim = ClaimStep(
        run_uuid=RUN, step_uuid=STEP, attempt=2, runner_id="runner-1", redelivered=redelivered
    )
    parsed = ClaimStep.from_bytes(claim.to_bytes())
    assert parsed == claim
    assert parsed.redelivered is redelivered
    assert json.loads(claim.to_bytes())["attempt"] == 2


def test_claim_step_defaults_and_checks() -> None:
    claim = ClaimStep(run_uuid=RUN, step_uuid=STEP, attempt=1, runner_id="r")
    assert claim.redelivered is False
    with pytest.raises(ValidationError) as exc:
        ClaimStep.model_validate({"run_uuid": RUN, "step_uuid": STEP, "attempt": 0})
    assert {tuple(e["loc"]) for e in exc.value.errors()} == {("attempt",), ("runner_id",)}


@pytest.mark.parametrize(
    "claim",
    [
        StepClaim(granted=True, attempt=3),
        StepClaim(granted=False, attempt=1, reason="attempt 1 is stale (now 2)"),
        StepClaim(granted=False, reason="no such run"),
    ],
    ids=["granted", "refused", "no-run"],
)
def test_step_claim_round_trip(claim: StepClaim) -> None:
    parsed = StepClaim.from_bytes(claim.to_bytes())
    assert parsed == claim
    assert parsed.granted is claim.granted


def test_step_claim_defaults() -> None:
    claim = StepClaim.model_validate_json(b'{"granted": false, "from_v2": 1}')
    assert claim == StepClaim(granted=False)
    assert claim.attempt is None
    assert claim.reason is None


@pytest.mark.parametrize("status", [StepStatus.SUCCESS, StepStatus.FAILURE, StepStatus.ABORTED])
def test_step_attempt_finished_round_trip(status: StepStatus) -> None:
    report = StepAttemptFinished(
        run_uuid=RUN,
        step_uuid=STEP,
        attempt=2,
        status=status,
        exit_code=0 if status is StepStatus.SUCCESS else 1,
        error=None if status is StepStatus.SUCCESS else "boom",
        runner_id="runner-1",
        artifacts=["out.ipynb"],
        started_at=AT,
        finished_at=AT + timedelta(seconds=5),
    )
    data = report.to_bytes()
    raw = json.loads(data)
    assert raw["kind"] == "step_attempt_finished"
    assert raw["status"] == status.value
    parsed = StepAttemptFinished.from_bytes(data)
    assert parsed == report
    assert parsed.report_id == report.report_id
    assert parsed.status == status
    assert parsed.artifacts == ["out.ipynb"]
    assert parsed.started_at == AT
    assert parsed.finished_at == AT + timedelta(seconds=5)


def test_step_attempt_finished_defaults() -> None:
    before = datetime.now(UTC)
    reports = [
        StepAttemptFinished(
            run_uuid=RUN, step_uuid=STEP, attempt=1, status="SUCCESS", runner_id="r"
        )
        for _ in range(100)
    ]
    after = datetime.now(UTC)
    report = reports[0]
    assert len({r.report_id for r in reports}) == len(reports)
    assert all(r.report_id for r in reports)
    assert report.artifacts == []
    assert report.exit_code is None and report.error is None and report.started_at is None
    assert report.finished_at.utcoffset() == timedelta(0)
    assert before <= report.finished_at <= after


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("status", "PENDING"),
        ("status", "STARTED"),
        ("status", "DONE"),
        ("attempt", 0),
        ("kind", "step_status_changed"),
    ],
)
def test_step_attempt_finished_field_checks(field: str, value: Any) -> None:
    fields = {
        "run_uuid": RUN,
        "step_uuid": STEP,
        "attempt": 1,
        "status": "FAILURE",
        "runner_id": "r",
        field: value,
    }
    with pytest.raises(ValidationError) as exc:
        StepAttemptFinished.model_validate(fields)
    assert [tuple(e["loc"]) for e in exc.value.errors()] == [(field,)]


# -- runs as the HTTP API returns them ----------------------------------------------------


def _run_view(status: RunStatus = RunStatus.FAILURE) -> RunView:
    return RunView(
        uuid=RUN,
        pipeline_uuid=PIPELINE,
        project_uuid=PROJECT,
        job_uuid=JOB,
        run_type=RunType.SELECTION,
        status=status,
        created_time=AT,
        started_time=AT + timedelta(seconds=1),
        finished_time=AT + timedelta(seconds=9),
        pipeline_steps=[
            StepView(
                run_uuid=RUN,
                step_uuid=STEP,
                title="Train",
                file_path="train.ipynb",
                status=StepStatus.FAILURE,
                attempt=3,
                started_time=AT + timedelta(seconds=2),
                finished_time=AT + timedelta(seconds=8),
                exit_code=1,
                error="boom",
                artifacts=["train.ipynb"],
            ),
            StepView(
                run_uuid=RUN,
                step_uuid="f1f0b1de-6a4c-4c41-9d0b-7f0c63e8a0c1",
                title="Report",
                file_path="report.py",
                status=StepStatus.ABORTED,
                attempt=0,
            ),
        ],
    )


def test_run_view_round_trip() -> None:
    view = _run_view()
    data = view.model_dump_json()
    raw = json.loads(data)
    assert raw["run_type"] == "selection"
    assert raw["status"] == "FAILURE"
    assert [s["attempt"] for s in raw["pipeline_steps"]] == [3, 0]
    parsed = RunView.model_validate_json(data)
    assert parsed == view
    assert parsed.run_type is RunType.SELECTION
    assert parsed.status is RunStatus.FAILURE
    assert parsed.created_time == AT
    assert parsed.pipeline_steps[0].artifacts == ["train.ipynb"]
    assert parsed.pipeline_steps[1].started_time is None


def test_step_view_defaults() -> None:
    step = StepView.model_validate(
        {
            "run_uuid": RUN,
            "step_uuid": STEP,
            "title": "",
            "file_path": "a.py",
            "status": "PENDING",
            "attempt": 0,
            "unknown": True,
        }
    )
    assert step.status is StepStatus.PENDING
    assert step.attempt == 0
    assert step.artifacts == []
    assert (step.started_time, step.finished_time, step.exit_code, step.error) == (
        None,
        None,
        None,
        None,
    )
    assert "unknown" not in step.model_dump()


@pytest.mark.parametrize(("total", "limit", "offset"), [(0, 10, 0), (25, 10, 20)])
def test_run_list_round_trip(total: int, limit: int, offset: int) -> None:
    runs = [_run_view(), _run_view(RunStatus.SUCCESS)] if total else []
    page = RunList(runs=runs, total=total, limit=limit, offset=offset)
    parsed = RunList.model_validate_json(page.model_dump_json())
    assert parsed == page
    assert [r.status for r in parsed.runs] == [r.status for r in runs]
    assert (parsed.total, parsed.limit, parsed.offset) == (total, limit, offset)


@pytest.mark.parametrize("cls", [RunView, StepView, RunList])
def test_views_are_frozen_and_ignore_unknown_fields(cls: type[Any]) -> None:
    assert cls.model_config.get("frozen") is True
    assert cls.model_config.get("extra") == "ignore"
    view = _run_view()
    with pytest.raises(ValidationError):
        view.status = RunStatus.SUCCESS  # type: ignore[misc]


@pytest.mark.parametrize(
    ("field", "value"),
    [("status", "DONE"), ("run_type", "everything"), ("created_time", "yesterday")],
)
def test_run_view_field_checks(field: str, value: Any) -> None:
    raw = json.loads(_run_view().model_dump_json())
    raw[field] = value
    with pytest.raises(ValidationError) as exc:
        RunView.model_validate(raw)
    assert [tuple(e["loc"]) for e in exc.value.errors()] == [(field,)]


# -- errors ------------------------------------------------------------------------------

HTTP_STATUS = {
    ErrorCode.INVALID: 422,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.PRECONDITION_FAILED: 412,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.INTERNAL: 500,
}


def test_http_status_table_covers_every_code() -> None:
    assert set(HTTP_STATUS) == set(ErrorCode)


@pytest.mark.parametrize("code", list(ErrorCode), ids=[c.value for c in ErrorCode])
def test_error_code_http_status(code: ErrorCode) -> None:
    assert code.http_status == HTTP_STATUS[code]
    reply = ErrorReply(code=code, message="m")
    assert reply.http_status == HTTP_STATUS[code]


def test_error_reply_round_trip() -> None:
    reply = ErrorReply(
        code=ErrorCode.INVALID,
        message="the pipeline is invalid",
        errors=[
            ErrorDetail(loc=["pipeline_definition", "steps", STEP, "file_path"], msg="missing"),
            ErrorDetail(loc=["parameters", 0, "0"], msg="bad", type="type_error"),
            ErrorDetail(msg="cycle between a and b", type="cycle"),
        ],
    )
    raw = json.loads(reply.to_bytes())
    assert raw["code"] == "invalid"
    parsed = ErrorReply.from_bytes(reply.to_bytes())
    assert parsed == reply
    assert parsed.code is ErrorCode.INVALID
    # Integer and string path items stay what they were.
    assert parsed.errors[1].loc == ["parameters", 0, "0"]
    assert parsed.errors[0].type == "value_error"
    assert parsed.errors[2].loc == []


def test_error_reply_refuses_an_unknown_code() -> None:
    with pytest.raises(ValidationError):
        ErrorReply.model_validate_json(b'{"code": "teapot", "message": "x"}')


def test_error_body_is_the_reply_without_its_code() -> None:
    reply = ErrorReply(
        code=ErrorCode.CONFLICT,
        message="job is running",
        errors=[ErrorDetail(loc=["job_uuid"], msg="running")],
    )
    body = ErrorBody.model_validate(reply.model_dump())
    assert body.message == reply.message
    assert body.errors == reply.errors
    assert "code" not in body.model_dump()


def test_health_report_in_its_503_form_is_an_error_body() -> None:
    report = HealthReport(
        status="degraded",
        services=[ServiceHealth(name="scheduler", up=False)],
        missing=["scheduler"],
        message="scheduler is down",
        errors=[ErrorDetail(loc=["services", "scheduler"], msg="no live instance")],
    )
    body = ErrorBody.model_validate_json(report.model_dump_json())
    assert body.message == "scheduler is down"
    assert body.errors == report.errors


# -- status ------------------------------------------------------------------------------

FINAL = {
    RunStatus.PENDING: False,
    RunStatus.STARTED: False,
    RunStatus.SUCCESS: True,
    RunStatus.FAILURE: True,
    RunStatus.ABORTED: True,
}


def test_final_table_covers_every_run_status() -> None:
    assert set(FINAL) == set(RunStatus)
    assert StepStatus is RunStatus


@pytest.mark.parametrize("status", list(RunStatus), ids=[s.value for s in RunStatus])
def test_run_status_is_final(status: RunStatus) -> None:
    assert status.is_final is FINAL[status]
    assert RunStatus(status.value).is_final is FINAL[status]


@pytest.mark.parametrize(
    ("text", "limit"),
    [("x" * 10_000, 200), ("é" * 5_000, 201), ("日本" * 3_000, 150), ("a" * 100, 100)],
)
def test_bounded_text_fits_its_limit_and_says_what_it_cut(text: str, limit: int) -> None:
    out = reports.bounded_text(text, limit)
    assert len(out.encode()) <= limit
    if len(text.encode()) <= limit:
        assert out == text
        return
    head, marker = out.split("... [truncated: ")
    assert text.startswith(head)
    more = len(text.encode()) - len(head.encode())
    assert marker == f"{more} more bytes; the whole output is in the step's log]"


def test_log_pieces_stay_under_the_chunk_size_between_characters() -> None:
    text = "a" + "日" * 50_000 + "é" * 7
    pieces = split_text(text, 32 * 1024)
    assert "".join(pieces) == text
    assert all(len(p.encode()) <= 32 * 1024 for p in pieces)
    assert split_text("short", 32) == ["short"]


@pytest.mark.parametrize(
    "fields",
    [
        {"exit_code": None, "error": None, "runner_id": None, "artifacts": []},
        {"exit_code": 3, "error": 'boom "ü" \u2028\n', "runner_id": "r-1", "artifacts": ["a", "b"]},
    ],
)
def test_step_event_json_without_the_model_is_the_models(fields: dict[str, Any]) -> None:
    given = {
        "event_id": "e1",
        "occurred_at": AT,
        "run_uuid": RUN,
        "pipeline_uuid": PIPELINE,
        "step_uuid": STEP,
        "attempt": 2,
        "status": StepStatus.FAILURE,
        "sequence": 7,
        **fields,
    }
    model = StepStatusChanged(**given)
    assert events.step_status_changed_json(**given) == model.to_bytes()
    assert ANY_EVENT.validate_json(events.step_status_changed_json(**given)) == model


@pytest.mark.parametrize("job_uuid", [None, JOB])
def test_run_event_json_without_the_model_is_the_models(job_uuid: str | None) -> None:
    given = {
        "event_id": "e2",
        "occurred_at": AT,
        "run_uuid": RUN,
        "pipeline_uuid": PIPELINE,
        "job_uuid": job_uuid,
        "status": RunStatus.SUCCESS,
        "sequence": 1,
    }
    model = RunStatusChanged(**given)
    assert events.run_status_changed_json(**given) == model.to_bytes()
    assert ANY_EVENT.validate_json(events.run_status_changed_json(**given)) == model


def test_a_forked_child_makes_ids_of_its_own() -> None:
    from orchest_schemas._base import new_id

    parent = new_id()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its id through the pipe, then out at once
        os.write(write, new_id().encode())
        os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    assert os.waitstatus_to_exitcode(status) == 0
    assert len(child) == len(parent) == 32
    assert child[:20] != parent[:20]
    assert new_id()[:20] == parent[:20]
