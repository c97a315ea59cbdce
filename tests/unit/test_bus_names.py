"""Subjects, filters, streams, consumers and object keys built by ``BusNames``.

Subjects are checked with a small NATS wildcard matcher, so the filters and
stream subjects are tested for what NATS would deliver, not for their text.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable

import pytest

from orchest_schemas.bus import (
    ALL_SERVICES,
    DEFAULT_PREFIX,
    BusNames,
    Retention,
    ServiceName,
    StreamSpec,
)
from orchest_schemas.status import Priority


def nats_match(filter_subject: str, subject: str) -> bool:
    """Whether NATS delivers ``subject`` to a subscription on ``filter_subject``.

    ``*`` matches exactly one token, ``>`` (last token only) one or more.
    """
    f_tokens = filter_subject.split(".")
    s_tokens = subject.split(".")
    for i, tok in enumerate(f_tokens):
        if tok == ">":
            assert i == len(f_tokens) - 1, f"'>' not last in {filter_subject!r}"
            return len(s_tokens) > i
        if i >= len(s_tokens):
            return False
        if tok != "*" and tok != s_tokens[i]:
            return False
    return len(f_tokens) == len(s_tokens)


@pytest.mark.parametrize(
    ("filter_subject", "subject", "expected"),
    [
        ("a.b.c", "a.b.c", True),
        ("a.b.c", "a.b", False),
        ("a.b", "a.b.c", False),
        ("a.*.c", "a.x.c", True),
        ("a.*.c", "a.x.y.c", False),
        ("a.*", "a", False),
        ("a.>", "a.b", True),
        ("a.>", "a.b.c.d", True),
        ("a.>", "a", False),
        ("a.*.>", "a.b", False),
        ("a.*.>", "a.b.c", True),
        ("ab.>", "a.b", False),
    ],
)
def test_matcher_itself(filter_subject: str, subject: str, expected: bool) -> None:
    assert nats_match(filter_subject, subject) is expected


P1 = "634308cd-39bb-4b0f-8219-3328b17d23bc"
P2 = "7c4eb2e6-1e6a-46c6-9fd4-3af0edc3378e"
R1 = "aef28a8d-4b9f-4f6b-9223-946408408666"
R2 = "f0d6d20e-daf4-40d8-ba2d-7154acd4f6bf"
S1 = "b83d0f4a-e887-4bee-80fa-b4af7d95e33e"
S2 = "516e2b9d-2212-49cf-9786-d5c55db192cc"
J1 = "3d387315-1b2a-4d96-b11b-0a38eb15e340"
PR1 = "2ec01ba6-0a28-4808-8f3a-fc86dbee1723"

COMMAND_PROPERTIES = (
    "create_run",
    "abort_run",
    "create_job",
    "update_job",
    "trigger_job",
    "cancel_job",
    "abort_job_run",
    "preview_schedule",
    "claim_step",
    "launch_session",
    "stop_session",
    "restart_session",
)


def command_subjects(b: BusNames) -> list[str]:
    return [getattr(b, name) for name in COMMAND_PROPERTIES]


def step_work_subjects(b: BusNames) -> list[str]:
    return [b.step_work(p) for p in Priority]


def run_event_subjects(b: BusNames) -> list[str]:
    return [b.run_event(p, r) for p in (P1, P2) for r in (R1, R2)]


def step_event_subjects(b: BusNames) -> list[str]:
    return [b.step_event(p, r, s) for p in (P1, P2) for r in (R1, R2) for s in (S1, S2)]


def job_event_subjects(b: BusNames) -> list[str]:
    return [b.job_event(j) for j in (J1, R1)]


def session_event_subjects(b: BusNames) -> list[str]:
    return [b.session_event(pr, p) for pr in (PR1, P2) for p in (P1, P2)]


def step_report_subjects(b: BusNames) -> list[str]:
    return [b.step_report(r, s) for r in (R1, R2) for s in (S1, S2)]


def step_log_subjects(b: BusNames) -> list[str]:
    return [b.step_log(r, s) for r in (R1, R2) for s in (S1, S2)]


def cancel_subjects(b: BusNames) -> list[str]:
    return [b.cancel_step(r, s) for r in (R1, R2) for s in (S1, S2)]


def build_cancel_subjects(b: BusNames) -> list[str]:
    return [b.cancel_build(x) for x in (R1, R2)]


# family name, builder, subject family token, stream family (None: core NATS only)
FAMILIES: list[tuple[str, Callable[[BusNames], list[str]], str, str | None]] = [
    ("commands", command_subjects, "cmd", None),
    ("step_work", step_work_subjects, "steps", "STEPS"),
    ("run_event", run_event_subjects, "events", "EVENTS"),
    ("step_event", step_event_subjects, "events", "EVENTS"),
    ("job_event", job_event_subjects, "events", "EVENTS"),
    ("session_event", session_event_subjects, "events", "EVENTS"),
    ("step_report", step_report_subjects, "reports", "REPORTS"),
    ("step_log", step_log_subjects, "logs", "LOGS"),
    ("cancel_step", cancel_subjects, "control", None),
    ("cancel_build", build_cancel_subjects, "control", None),
]
FAMILY_IDS = [f[0] for f in FAMILIES]


def all_names(b: BusNames) -> list[str]:
    """Every subject, filter and stream subject ``b`` builds."""
    out: list[str] = []
    for _, build, _, _ in FAMILIES:
        out += build(b)
    out += [b.all_events, b.all_reports, b.all_logs, b.all_cancels, b.all_build_cancels]
    out += [b.pipeline_events(P1), b.run_events(R1)]
    for stream in b.streams:
        out += stream.subjects
    for p in Priority:
        out.append(b.step_work_consumer(p, 30.0).filter_subject)
    out.append(b.scheduler_reports_consumer(30.0).filter_subject)
    return out


# -- the wire contract ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda b: b.create_run, "orchest.cmd.v1.runs.create"),
        (lambda b: b.abort_run, "orchest.cmd.v1.runs.abort"),
        (lambda b: b.create_job, "orchest.cmd.v1.jobs.create"),
        (lambda b: b.update_job, "orchest.cmd.v1.jobs.update"),
        (lambda b: b.trigger_job, "orchest.cmd.v1.jobs.trigger"),
        (lambda b: b.cancel_job, "orchest.cmd.v1.jobs.cancel"),
        (lambda b: b.abort_job_run, "orchest.cmd.v1.jobs.runs.abort"),
        (lambda b: b.preview_schedule, "orchest.cmd.v1.jobs.schedule.preview"),
        (lambda b: b.claim_step, "orchest.cmd.v1.steps.claim"),
        (lambda b: b.launch_session, "orchest.cmd.v1.sessions.launch"),
        (lambda b: b.stop_session, "orchest.cmd.v1.sessions.stop"),
        (lambda b: b.restart_session, "orchest.cmd.v1.sessions.restart"),
        (lambda b: b.step_work(Priority.INTERACTIVE), "orchest.steps.v1.ready.interactive"),
        (lambda b: b.step_work(Priority.JOB), "orchest.steps.v1.ready.job"),
        (lambda b: b.run_event(P1, R1), f"orchest.events.v1.run.{P1}.{R1}.status"),
        (lambda b: b.step_event(P1, R1, S1), f"orchest.events.v1.run.{P1}.{R1}.step.{S1}"),
        (lambda b: b.job_event(J1), f"orchest.events.v1.job.{J1}.status"),
        (lambda b: b.job_run_event(J1, R1), f"orchest.events.v1.job.{J1}.run.{R1}"),
        (lambda b: b.job_events(J1), f"orchest.events.v1.job.{J1}.>"),
        (lambda b: b.run_logs(R1), f"orchest.logs.v1.{R1}.>"),
        (lambda b: b.session_event(PR1, P1), f"orchest.events.v1.session.{PR1}.{P1}"),
        (lambda b: b.step_log(R1, S1), f"orchest.logs.v1.{R1}.{S1}"),
        (lambda b: b.cancel_step(R1, S1), f"orchest.control.v1.cancel.{R1}.{S1}"),
        (lambda b: b.step_report(R1, S1), f"orchest.reports.v1.step.{R1}.{S1}"),
        (lambda b: b.all_events, "orchest.events.v1.>"),
        (lambda b: b.pipeline_events(P1), f"orchest.events.v1.run.{P1}.>"),
        (lambda b: b.run_events(R1), f"orchest.events.v1.run.*.{R1}.>"),
        (lambda b: b.all_reports, "orchest.reports.v1.>"),
        (lambda b: b.all_logs, "orchest.logs.v1.>"),
        (lambda b: b.all_cancels, "orchest.control.v1.cancel.>"),
        (lambda b: b.cancel_build(R1), f"orchest.control.v1.build-cancel.{R1}"),
        (lambda b: b.all_build_cancels, "orchest.control.v1.build-cancel.*"),
        (lambda b: b.queue_group(ServiceName.SCHEDULER), "orchest-scheduler"),
        (lambda b: b.queue_group(ServiceName.STEP_RUNNER), "orchest-step-runner"),
        (lambda b: b.steps_stream.name, "ORCHEST_STEPS"),
        (lambda b: b.events_stream.name, "ORCHEST_EVENTS"),
        (lambda b: b.reports_stream.name, "ORCHEST_REPORTS"),
        (lambda b: b.logs_stream.name, "ORCHEST_LOGS"),
        (lambda b: b.scheduler_reports_consumer(1.0).durable_name, "scheduler-reports"),
        (lambda b: b.artifacts_bucket, "ORCHEST_ARTIFACTS"),
        (lambda b: b.artifact_key(R1, S1, 2, "out.ipynb"), f"{R1}/{S1}/2/out.ipynb"),
    ],
)
def test_default_names_are_the_documented_ones(
    build: Callable[[BusNames], str], expected: str
) -> None:
    assert BusNames().prefix == DEFAULT_PREFIX == "orchest"
    assert build(BusNames()) == expected


def test_command_subjects_are_distinct() -> None:
    subjects = command_subjects(BusNames())
    assert len(set(subjects)) == len(COMMAND_PROPERTIES)


def test_queue_groups_are_distinct_per_service() -> None:
    b = BusNames("stack-a")
    groups = [b.queue_group(s) for s in ALL_SERVICES]
    assert len(set(groups)) == len(ServiceName)
    assert all(g.startswith("stack-a-") for g in groups)


# -- prefix and version token --------------------------------------------------------


@pytest.mark.parametrize("prefix", ["acme-2", "ci_run_17", "stack9"])
def test_prefix_is_the_first_token_of_every_subject(prefix: str) -> None:
    names = all_names(BusNames(prefix))
    assert len(names) > 30
    for subject in names:
        assert subject.split(".")[0] == prefix, subject
    assert not any("orchest" in s for s in names)


@pytest.mark.parametrize("prefix", ["acme-2", "ci_run_17"])
def test_prefix_is_in_stream_names_and_queue_groups(prefix: str) -> None:
    b = BusNames(prefix)
    expected_stream_prefix = prefix.upper() + "_"
    for stream in b.streams:
        assert stream.name.startswith(expected_stream_prefix)
    for p in Priority:
        assert b.step_work_consumer(p, 1.0).stream == b.steps_stream.name
    assert b.scheduler_reports_consumer(1.0).stream == b.reports_stream.name
    assert b.artifacts_bucket.startswith(expected_stream_prefix)
    for service in ALL_SERVICES:
        assert b.queue_group(service) == f"{prefix}-{service.value}"


@pytest.mark.parametrize(("family", "build", "token", "stream"), FAMILIES, ids=FAMILY_IDS)
def test_family_and_version_tokens(
    family: str, build: Callable[[BusNames], list[str]], token: str, stream: str | None
) -> None:
    for subject in build(BusNames("px")):
        assert subject.split(".")[1:3] == [token, "v1"], subject


def test_wildcard_filters_carry_the_version_token() -> None:
    b = BusNames("px")
    for f in (b.all_events, b.all_reports, b.all_logs, b.all_cancels, b.all_build_cancels):
        assert f.split(".")[2] == "v1"
    for f in (b.pipeline_events(P1), b.run_events(R1)):
        assert f.split(".")[1:3] == ["events", "v1"]


def test_prefixes_do_not_see_each_other() -> None:
    # "orchest" is a string prefix of "orchest-test": the subjects must still not overlap.
    a, b = BusNames("orchest"), BusNames("orchest-test")
    a_filters = [s for stream in a.streams for s in stream.subjects]
    a_filters += [
        a.all_events,
        a.all_reports,
        a.all_logs,
        a.all_cancels,
        a.all_build_cancels,
        a.pipeline_events(P1),
        a.run_events(R1),
        a.scheduler_reports_consumer(1.0).filter_subject,
        *(a.step_work_consumer(p, 1.0).filter_subject for p in Priority),
    ]
    for _, build, _, _ in FAMILIES:
        for subject in build(b):
            assert not any(nats_match(f, subject) for f in a_filters), subject


# -- filters -------------------------------------------------------------------------


def universe() -> set[str]:
    """Every subject of every family, under this prefix and another, plus subjects
    with the uuids in unexpected positions and steps named like subject tokens."""
    out: set[str] = set()
    for b in (BusNames(), BusNames("other"), BusNames("orchest-test")):
        for _, build, _, _ in FAMILIES:
            out.update(build(b))
        out |= {
            b.run_event(R1, R2),
            b.run_event(R1, R1),
            b.run_event(R2, P1),
            b.step_event(R1, R2, S1),
            b.step_event(P1, R2, R1),
            b.step_event(R1, S1, P1),
            b.step_event(P1, R1, "status"),
            b.step_event(P1, R1, "step"),
            b.job_event(R1),
            b.job_event(P1),
            b.session_event(P1, R1),
            b.session_event(PR1, R1),
            b.step_report(P1, R1),
            b.step_log(P1, R1),
            b.cancel_step(P1, R1),
        }
    return out


UNIVERSE = universe()


def test_pipeline_filter_matches_exactly_the_pipeline_runs_and_steps() -> None:
    b = BusNames()
    f = b.pipeline_events(P1)
    expected = {b.run_event(P1, r) for r in (R1, R2)}
    expected |= {b.step_event(P1, r, s) for r in (R1, R2) for s in (S1, S2, "status", "step")}
    expected |= {b.step_event(P1, R2, R1), b.run_event(P1, R2)}
    matched = {s for s in UNIVERSE if nats_match(f, s)}
    assert matched == expected & UNIVERSE
    assert b.run_event(P1, R1) in matched
    assert b.step_event(P1, R1, S1) in matched


def test_job_filter_matches_the_job_and_its_runs_only() -> None:
    b = BusNames()
    f = b.job_events(J1)
    assert nats_match(f, b.job_event(J1))
    assert nats_match(f, b.job_run_event(J1, R1))
    assert not nats_match(f, b.job_event(R1))
    assert not nats_match(f, b.run_event(P1, R1))


def test_run_logs_filter_matches_every_step_of_the_run_only() -> None:
    b = BusNames()
    assert nats_match(b.run_logs(R1), b.step_log(R1, S1))
    assert not nats_match(b.run_logs(R1), b.step_log(R2, S1))


def test_run_filter_matches_exactly_the_run_status_and_its_steps() -> None:
    b = BusNames()
    f = b.run_events(R1)
    expected = {b.run_event(p, R1) for p in (P1, P2, R1)}
    expected |= {b.step_event(p, R1, s) for p in (P1, P2) for s in (S1, S2, "status", "step")}
    matched = {s for s in UNIVERSE if nats_match(f, s)}
    assert matched == expected & UNIVERSE
    for p in (P1, P2):
        assert b.run_event(p, R1) in matched
        assert {b.step_event(p, R1, s) for s in (S1, S2)} <= matched


def test_pipeline_events_match_the_pipeline_runs_and_steps() -> None:
    b = BusNames()
    f = b.pipeline_events(P1)
    for r in (R1, R2):
        assert nats_match(f, b.run_event(P1, r))
        for s in (S1, S2):
            assert nats_match(f, b.step_event(P1, r, s))


@pytest.mark.parametrize(
    "subject",
    [
        BusNames().run_event(P2, R1),
        BusNames().step_event(P2, R1, S1),
        BusNames().run_event(R1, P1),  # the uuid in the run's position
        BusNames().step_event(R1, P1, S1),
        BusNames().step_event(R1, S1, P1),
        BusNames().session_event(PR1, P1),  # same pipeline, but a session event
        BusNames().session_event(P1, P2),
        BusNames().job_event(P1),
        BusNames().step_report(P1, S1),
        BusNames().step_log(P1, S1),
        BusNames().cancel_step(P1, S1),
        BusNames("other").run_event(P1, R1),
        BusNames("other").step_event(P1, R1, S1),
        BusNames("orchest-test").run_event(P1, R1),
    ],
)
def test_pipeline_events_match_nothing_else(subject: str) -> None:
    assert not nats_match(BusNames().pipeline_events(P1), subject)


def test_run_events_match_the_run_and_its_steps_in_any_pipeline() -> None:
    b = BusNames()
    f = b.run_events(R1)
    for p in (P1, P2):
        assert nats_match(f, b.run_event(p, R1))
        for s in (S1, S2):
            assert nats_match(f, b.step_event(p, R1, s))


@pytest.mark.parametrize(
    "subject",
    [
        BusNames().run_event(P1, R2),
        BusNames().step_event(P1, R2, S1),
        BusNames().run_event(R1, R2),  # the run's uuid in the pipeline position
        BusNames().step_event(R1, R2, S1),
        BusNames().step_event(P1, R2, R1),  # ... and in the step position
        BusNames().job_event(R1),
        BusNames().session_event(PR1, R1),
        BusNames().step_report(R1, S1),
        BusNames().step_log(R1, S1),
        BusNames().cancel_step(R1, S1),
        BusNames("other").run_event(P1, R1),
        BusNames("other").step_event(P1, R1, S1),
        BusNames("orchest-test").step_event(P1, R1, S1),
    ],
)
def test_run_events_match_nothing_else(subject: str) -> None:
    assert not nats_match(BusNames().run_events(R1), subject)


@pytest.mark.parametrize("step", [S1, "status", "step"])
def test_run_and_step_events_never_collide(step: str) -> None:
    b = BusNames()
    run_subjects = {b.run_event(p, r) for p in (P1, P2) for r in (R1, R2)}
    assert b.step_event(P1, R1, step) not in run_subjects
    # A run event and a step event differ in shape: a run's status is never read as a step's.
    assert len(b.run_event(P1, R1).split(".")) != len(b.step_event(P1, R1, step).split("."))


@pytest.mark.parametrize(("family", "build", "token", "stream"), FAMILIES, ids=FAMILY_IDS)
def test_catch_all_filters(
    family: str, build: Callable[[BusNames], list[str]], token: str, stream: str | None
) -> None:
    b = BusNames()
    for subject in build(b):
        assert nats_match(b.all_events, subject) is (token == "events")
        assert nats_match(b.all_reports, subject) is (family == "step_report")
        assert nats_match(b.all_logs, subject) is (family == "step_log")
        assert nats_match(b.all_cancels, subject) is (family == "cancel_step")


def test_run_and_pipeline_filters_are_within_the_events_stream() -> None:
    b = BusNames("px")
    # An ordered consumer on the events stream takes one filter: a subset of its subjects.
    (events,) = b.events_stream.subjects
    for f in (b.pipeline_events(P1), b.run_events(R1)):
        assert f.startswith(events.removesuffix(">"))
        assert isinstance(f, str)


# -- streams and consumers -----------------------------------------------------------


def _streams_matching(streams: tuple[StreamSpec, ...], subject: str) -> list[str]:
    return [s.name for s in streams if any(nats_match(f, subject) for f in s.subjects)]


@pytest.mark.parametrize("prefix", ["orchest", "ci-run-3"])
@pytest.mark.parametrize(("family", "build", "token", "stream"), FAMILIES, ids=FAMILY_IDS)
def test_each_subject_is_captured_by_exactly_its_stream(
    prefix: str,
    family: str,
    build: Callable[[BusNames], list[str]],
    token: str,
    stream: str | None,
) -> None:
    """Persisted families land in exactly one stream; commands and cancels in
    none (a stream capturing a request subject would answer it with a PubAck)."""
    b = BusNames(prefix)
    expected = [] if stream is None else [getattr(b, f"{stream.lower()}_stream").name]
    for subject in build(b):
        assert _streams_matching(b.streams, subject) == expected, subject


def test_streams_are_the_four_families_with_their_retention() -> None:
    b = BusNames()
    assert [s.name for s in b.streams] == [
        "ORCHEST_STEPS",
        "ORCHEST_EVENTS",
        "ORCHEST_REPORTS",
        "ORCHEST_LOGS",
    ]
    assert b.steps_stream.retention is Retention.WORK_QUEUE
    assert b.events_stream.retention is Retention.LIMITS
    assert b.reports_stream.retention is Retention.WORK_QUEUE
    assert b.logs_stream.retention is Retention.LIMITS
    assert b.events_stream.max_age_seconds > 0
    assert b.logs_stream.max_age_seconds > 0
    # A report waits for the scheduler however long it is down.
    assert b.reports_stream.max_age_seconds == 0
    # De-duplication on Nats-Msg-Id needs a window.
    assert all(s.duplicate_window_seconds > 0 for s in b.streams)


def test_stream_subjects_do_not_overlap() -> None:
    b = BusNames()
    subjects = [(s.name, f) for s in b.streams for f in s.subjects]
    for name, f in subjects:
        for other_name, other in subjects:
            if name != other_name:
                assert not nats_match(f, other.replace(">", "x"))
                assert not nats_match(other, f.replace(">", "x"))


def test_step_work_consumers_split_the_work_queue_by_priority() -> None:
    b = BusNames("px")
    consumers = [b.step_work_consumer(p, 12.5) for p in Priority]
    # A work-queue stream refuses consumers with overlapping filters.
    assert len({c.filter_subject for c in consumers}) == len(Priority)
    assert len({c.durable_name for c in consumers}) == len(Priority)
    for p, c in zip(Priority, consumers, strict=True):
        assert c.stream == b.steps_stream.name
        assert c.filter_subject == b.step_work(p)
        assert c.filter_subject in b.steps_stream.subjects
        assert c.ack_wait_seconds == 12.5


def test_scheduler_consumer_reads_every_report_and_nothing_else() -> None:
    b = BusNames("px")
    c = b.scheduler_reports_consumer(7.0)
    assert c.stream == b.reports_stream.name
    assert c.ack_wait_seconds == 7.0
    assert c.durable_name == "scheduler-reports"
    for subject in step_report_subjects(b):
        assert nats_match(c.filter_subject, subject)
        assert _streams_matching(b.streams, subject) == [c.stream]
    for _, build, _, _ in FAMILIES:
        for subject in build(b):
            if subject not in step_report_subjects(b):
                assert not nats_match(c.filter_subject, subject), subject
    for subject in step_report_subjects(BusNames("py")):
        assert not nats_match(c.filter_subject, subject)


def test_durable_consumer_names_are_distinct() -> None:
    b = BusNames()
    names = [b.step_work_consumer(p, 1.0).durable_name for p in Priority]
    names.append(b.scheduler_reports_consumer(1.0).durable_name)
    assert len(set(names)) == len(names)


# JetStream names: no whitespace, '.', '*', '>', path separators or non-printables.
_FORBIDDEN_IN_JS_NAME = re.compile(r"[\s.*>/\\]")
# Object store bucket names are stricter.
_OBJECT_BUCKET = re.compile(r"[A-Za-z0-9_-]+")


def _valid_jetstream_name(name: str) -> bool:
    return (
        0 < len(name) <= 255
        and not _FORBIDDEN_IN_JS_NAME.search(name)
        and all(c in string.printable for c in name)
    )


@pytest.mark.parametrize("prefix", ["orchest", "my-stack", "ci-run-42", "a-b-c-d", "team_a"])
def test_stream_consumer_and_bucket_names_are_valid_jetstream_names(prefix: str) -> None:
    b = BusNames(prefix)
    names = [s.name for s in b.streams]
    names += [b.step_work_consumer(p, 1.0).durable_name for p in Priority]
    names.append(b.scheduler_reports_consumer(1.0).durable_name)
    names.append(b.artifacts_bucket)
    for name in names:
        assert _valid_jetstream_name(name), name
    assert _OBJECT_BUCKET.fullmatch(b.artifacts_bucket)
    assert len({s.name for s in b.streams}) == 4
    assert b.artifacts_bucket not in {s.name for s in b.streams}


@pytest.mark.parametrize(("a", "b"), [("a-b", "a_b"), ("a1", "a_1"), ("x-y_z", "x_y-z")])
def test_distinct_prefixes_get_distinct_streams(a: str, b: str) -> None:
    assert BusNames(a).all_events != BusNames(b).all_events
    names_a = {s.name for s in BusNames(a).streams} | {BusNames(a).artifacts_bucket}
    names_b = {s.name for s in BusNames(b).streams} | {BusNames(b).artifacts_bucket}
    assert names_a.isdisjoint(names_b)


# -- artifact keys -------------------------------------------------------------------


def test_artifact_keys_are_distinct_per_run_step_attempt_and_name() -> None:
    keys = [
        BusNames.artifact_key(r, s, a, n)
        for r in (R1, R2)
        for s in (S1, S2)
        for a in (1, 2, 10)
        for n in ("out.ipynb", "report.html")
    ]
    assert len(set(keys)) == len(keys)
    assert BusNames("px").artifact_key(R1, S1, 3, "x") == BusNames().artifact_key(R1, S1, 3, "x")
    key = BusNames.artifact_key(R1, S1, 3, "nested/out.ipynb")
    assert key.split("/", 3) == [R1, S1, "3", "nested/out.ipynb"]


# -- invalid prefixes and tokens -----------------------------------------------------

BAD_TOKENS = ["", "a.b", ".", "*", ">", "a*", "a>", "a b", " a", "a\tb", "a/b", "ä"]


@pytest.mark.parametrize("prefix", ["STACK", "Orchest", "-lead", "_lead"])
def test_prefix_must_be_lower_case_and_start_with_a_letter_or_digit(prefix: str) -> None:
    with pytest.raises(ValueError, match="bus prefix"):
        BusNames(prefix)


@pytest.mark.parametrize("prefix", BAD_TOKENS)
def test_invalid_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="bus prefix"):
        BusNames(prefix)


TOKEN_BUILDERS: list[tuple[str, Callable[[BusNames, str], object]]] = [
    ("run_event.pipeline", lambda b, t: b.run_event(t, R1)),
    ("run_event.run", lambda b, t: b.run_event(P1, t)),
    ("step_event.pipeline", lambda b, t: b.step_event(t, R1, S1)),
    ("step_event.run", lambda b, t: b.step_event(P1, t, S1)),
    ("step_event.step", lambda b, t: b.step_event(P1, R1, t)),
    ("job_event.job", lambda b, t: b.job_event(t)),
    ("session_event.project", lambda b, t: b.session_event(t, P1)),
    ("session_event.pipeline", lambda b, t: b.session_event(PR1, t)),
    ("step_log.run", lambda b, t: b.step_log(t, S1)),
    ("step_log.step", lambda b, t: b.step_log(R1, t)),
    ("cancel_step.run", lambda b, t: b.cancel_step(t, S1)),
    ("cancel_step.step", lambda b, t: b.cancel_step(R1, t)),
    ("step_report.run", lambda b, t: b.step_report(t, S1)),
    ("step_report.step", lambda b, t: b.step_report(R1, t)),
    ("pipeline_events", lambda b, t: b.pipeline_events(t)),
    ("run_events", lambda b, t: b.run_events(t)),
]


# Object keys: '/' separates their parts, so run and step are checked like subject tokens.
KEY_BUILDERS: list[tuple[str, Callable[[BusNames, str], str]]] = [
    ("artifact_key.run", lambda b, t: b.artifact_key(t, S1, 1, "out.ipynb")),
    ("artifact_key.step", lambda b, t: b.artifact_key(R1, t, 1, "out.ipynb")),
]


@pytest.mark.parametrize("token", BAD_TOKENS)
@pytest.mark.parametrize(
    "build",
    [b for _, b in TOKEN_BUILDERS + KEY_BUILDERS],
    ids=[n for n, _ in TOKEN_BUILDERS + KEY_BUILDERS],
)
def test_invalid_token_is_refused(build: Callable[[BusNames, str], object], token: str) -> None:
    with pytest.raises(ValueError, match="subject token"):
        build(BusNames(), token)


@pytest.mark.parametrize("token", [P1, P1.replace("-", ""), "job_17", "ABC-def"])
@pytest.mark.parametrize("build", [b for _, b in KEY_BUILDERS], ids=[n for n, _ in KEY_BUILDERS])
def test_valid_token_becomes_one_key_part(
    build: Callable[[BusNames, str], str], token: str
) -> None:
    key = build(BusNames(), token)
    parts = key.split("/")
    assert len(parts) == 4
    assert token in parts[:2]


@pytest.mark.parametrize("token", [P1, P1.replace("-", ""), "job_17", "ABC-def"])
@pytest.mark.parametrize(
    "build", [b for _, b in TOKEN_BUILDERS], ids=[n for n, _ in TOKEN_BUILDERS]
)
def test_valid_token_becomes_one_subject_token(
    build: Callable[[BusNames, str], object], token: str
) -> None:
    subject = build(BusNames(), token)
    assert isinstance(subject, str)  # one subject (or one filter), never several
    assert token in subject.split(".")


@pytest.mark.parametrize(
    "build",
    [
        lambda: BusNames("orchest\n"),
        lambda: BusNames().run_event(f"{P1}\n", R1),
        lambda: BusNames().step_log(R1, f"{S1}\n"),
        lambda: BusNames().step_report(f"{R1}\n", S1),
        lambda: BusNames().run_events(f"{R1}\n"),
        lambda: BusNames().artifact_key(R1, f"{S1}\n", 1, "x"),
    ],
    ids=["prefix", "run_event", "step_log", "step_report", "run_events", "artifact_key"],
)
def test_trailing_newline_is_refused(build: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        build()


def test_run_status_filter_matches_only_run_status_events_of_the_pipeline() -> None:
    b = BusNames()
    f = b.run_status_events(P1)
    assert nats_match(f, b.run_event(P1, R1)) and nats_match(f, b.run_event(P1, R2))
    assert not nats_match(f, b.step_event(P1, R1, S1))
    assert not nats_match(f, b.run_event(P2, R1))
