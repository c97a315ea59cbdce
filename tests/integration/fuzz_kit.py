"""The HTTP API fuzzed from its OpenAPI document, one part of its operations
per test module (``test_api_fuzz_<part>.py``, so that ``make test``'s workers
fuzz the parts at once; a module stays on one worker).

Each part's test runs the whole stack in its event loop (gateway with bearer
tokens, scheduler, step runner, session manager on real NATS and Postgres);
schemathesis loads the live ``/api/openapi.json`` and, from a worker thread,
sends property-based cases to every operation of the part: cases that fit the
document (positive) and cases that break it (negative), each with random path
parameters and again with those of a real run and job. Every answer must be
no 5xx, a documented status, the documented media type and, where the
document gives one, a body of the documented schema; a case that breaks the
document must get a 4xx; an operation that answered 2xx must refuse the same
request without its token. Derandomized (a fixed seed, no example database),
so CI sees the same cases each run.

Every operation of the document is in exactly one part (``part_of``: by its
first tag; what no part names is in ``rest``), so the parts together fuzz
every operation, a new one included.

Nothing fuzzed starts real work: every existing path a body names is swapped
for one that does not exist (so launches, runs and jobs are refused), and
every live session is stopped after the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given
from runs_harness import Project, Stack, whole_stack
from schemathesis import checks as st_checks
from schemathesis.core.failures import AcceptedNegativeData, FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.generation.feedback import NO_FEEDBACK
from sse_client import read_events
from test_auth import gateway_overrides

EXAMPLES = int(os.environ.get("ORCHEST_FUZZ_EXAMPLES", "20"))
"""Cases per operation, generation mode and set of path parameters."""
SSE_SECONDS = 0.5
"""How long an event stream is read."""
NOWHERE = "/nonexistent/orchest-fuzz"
TOKEN = "fuzz-token-3b1f0c5e9a7d"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

PARTS = {"runs": {"runs"}, "jobs": {"jobs"}, "projects": {"projects", "sessions"}}
"""The parts by the operation's first tag in the document; every other
operation (system, events, environments, one with a new tag or none) is in
the part ``rest``."""
REST = "rest"

OF_RUN = ("getRun", "abortRun", "listRunAttempts")
OF_STEP = ("getRunStep", "getRunStepLogs", "getRunStepArtifact")
OF_JOB = ("getJob", "updateJob", "cancelJob", "triggerJob", "listJobRuns")
FIXED = (*OF_RUN, *OF_STEP, *OF_JOB, "abortJobRun")
"""The operations fuzzed again with the path parameters of a real run or job."""

CHECKS = [
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_schema_conformance,
    st_checks.ignored_auth,
]


def part_of(tags: Sequence[str]) -> str:
    """The part of an operation tagged ``tags``."""
    head = tags[0] if tags else ""
    return next((part for part, heads in PARTS.items() if head in heads), REST)


@dataclass
class Tally:
    cases: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    """One example per kind of failure (checks and status)."""
    seconds: float = 0.0

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.by_status.items() if status >= 500)


def _defuse(node: Any) -> Any:
    """``node`` with every string naming an existing path swapped for NOWHERE."""
    if isinstance(node, dict):
        return {k: _defuse(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_defuse(v) for v in node]
    if isinstance(node, str) and node.startswith("/") and os.path.exists(node):
        return NOWHERE
    return node


def _explore(strategy: Any, examples: int, test: Callable[[schemathesis.Case], None]) -> None:
    """Run ``test`` on ``examples`` cases of ``strategy``, derandomized."""

    @hypothesis.settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(case=strategy)
    def explore(case: schemathesis.Case) -> None:
        test(case)

    # An operation with no input has no case that breaks it (negative mode).
    with contextlib.suppress(hypothesis.errors.Unsatisfiable):
        explore()


@dataclass
class Target:
    base_url: str
    session: requests.Session = field(default_factory=requests.Session)


def fuzz(
    target: Target, part: str, examples: int, fixed: dict[str, dict[str, Any]]
) -> dict[str, Tally]:
    """Every operation of ``part``, positive then negative cases; the tally per operation."""
    schema = schemathesis.openapi.from_url(
        f"{target.base_url}/api/openapi.json", headers=AUTH, timeout=10
    )
    tallies: dict[str, Tally] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        if part_of(operation.definition.raw.get("tags", [])) != part:
            continue
        op_id = operation.definition.raw["operationId"]
        tally = tallies.setdefault(op_id, Tally())
        started = time.monotonic()
        timeout = SSE_SECONDS if op_id == "streamEvents" else 30.0
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            checks = [*CHECKS, st_checks.negative_data_rejection] if mode.is_negative else CHECKS
            # No feedback from answers: the same cases every run.
            strategies = [operation.as_strategy(mode, feedback=NO_FEEDBACK)]
            if op_id in fixed:
                strategies.append(
                    operation.as_strategy(mode, feedback=NO_FEEDBACK, path_parameters=fixed[op_id])
                )
            for strategy in strategies:
                _explore(strategy, examples, _tester(target, tally, checks, timeout))
        tally.seconds = time.monotonic() - started
    return tallies


def _tester(
    target: Target, tally: Tally, checks: list[Any], timeout: float
) -> Callable[[schemathesis.Case], None]:
    sent = {"base_url": target.base_url, "session": target.session, "timeout": timeout}

    def test(case: schemathesis.Case) -> None:
        if isinstance(case.body, dict | list):
            case.body = _defuse(case.body)
        try:
            response = case.call(headers=AUTH, **sent)
        except requests.RequestException as exc:
            tally.failures.setdefault(type(exc).__name__, f"{case.as_curl_command()}: {exc}")
            return
        tally.cases += 1
        tally.by_status[response.status_code] = tally.by_status.get(response.status_code, 0) + 1
        try:
            case.validate_response(
                response, checks=checks, headers=AUTH, transport_kwargs={**sent, "headers": AUTH}
            )
        except FailureGroup as exc:
            # A 413 (the body over the size limit) refuses bad input as a 4xx
            # does; schemathesis's list of refusals leaves it out.
            found = [f for f in exc.exceptions if not _refused_as_too_large(f, response)]
            if found:
                kinds = sorted(f"{f.code} {f.title}" for f in found)
                tally.failures.setdefault(f"{kinds} [{response.status_code}]", str(exc))

    return test


def _refused_as_too_large(failure: Exception, response: requests.Response) -> bool:
    return isinstance(failure, AcceptedNegativeData) and response.status_code == 413


@contextlib.asynccontextmanager
async def fuzz_whole_stack(service_settings: Callable[..., Any]) -> AsyncIterator[Stack]:
    """The whole stack, its gateway wanting ``TOKEN``, with a session manager.

    Its services share this test's event loop with the fuzzer's thread (the
    GIL), on a machine running other test workers: the health check's
    discovery waits up to 5 s for them to answer instead of 0.5 s, so that a
    loop held up by the fuzzer is not read as a service down (a 503 that CI
    once saw for `GET /api/health`); the 503 of a service really missing is
    tested on its own (`test_gateway.py`)."""
    settings = gateway_overrides(service_settings, api_tokens=TOKEN, discovery_timeout_seconds=5.0)
    async with whole_stack(settings, sessions={"session_stop_on_exit": True}) as s:
        s.http.headers.update(AUTH)
        yield s


async def fixed_path_parameters(stack: Stack, project: Project) -> dict[str, dict[str, Any]]:
    """A real run and a real job (two parameter sets, run once) of ``project``,
    so that reads and the event stream answer with data; the path parameters
    naming them, per operation."""
    project.step("a", "a.sh", "echo a\n")
    run = await stack.run_to_end(project.body())
    job = await job_run_once(stack, project)
    step = {"run_uuid": run["uuid"], "step_uuid": "a"}
    of_job = {"job_uuid": job["uuid"]}
    fixed = {op: {"run_uuid": run["uuid"]} for op in OF_RUN}
    fixed.update({op: step for op in OF_STEP})
    fixed.update({op: of_job for op in OF_JOB})
    fixed["abortJobRun"] = {**of_job, "run_uuid": job["runs"][0]["uuid"]}
    return fixed


async def every_operation_survives(stack: Stack, project: Project, part: str) -> dict[str, Tally]:
    """Fuzz ``part`` and check every operation of it had cases and no failure; the tallies."""
    # Projects and sessions read no run nor job: their part makes none.
    fixed = {} if part == "projects" else await fixed_path_parameters(stack, project)
    target = Target(str(stack.http.base_url).rstrip("/"))
    started = time.monotonic()
    try:
        tallies = await asyncio.to_thread(fuzz, target, part, EXAMPLES, fixed)
    finally:
        await stop_live_sessions(stack)
    elapsed = time.monotonic() - started

    total = sum(t.cases for t in tallies.values())
    errors = sum(t.server_errors for t in tallies.values())
    print(f"\n{part}: {len(tallies)} operations, {total} cases, {errors} 5xx, {elapsed:.1f} s")
    for op, t in tallies.items():
        print(f"  {op}: {t.cases} cases in {t.seconds:.1f} s {dict(sorted(t.by_status.items()))}")
    assert tallies, f"no operation in {part}"
    assert all(t.cases for t in tallies.values())
    failures = [
        f"{op} {kind}:\n{text}" for op, t in tallies.items() for kind, text in t.failures.items()
    ]
    assert not failures, "\n\n".join(failures)
    assert errors == 0
    return tallies


async def job_run_once(stack: Stack, project: Project) -> dict[str, Any]:
    """A job of ``project`` run once now, waited for; the job with its runs."""
    body = {
        "name": "fuzzed",
        "pipeline_definition": project.definition(),
        "project_dir": str(project.root),
        "parameters": [{}, {"pipeline_parameters": {"x": 1}}],
    }
    response = await stack.http.post("/api/jobs", json=body)
    assert response.status_code == 201, response.text
    job_uuid = response.json()["uuid"]
    ended = await read_events(
        stack.http,
        {"job_uuid": job_uuid},
        lambda got: any(
            e["event"] == "job_status_changed" and e["status"] in {"SUCCESS", "FAILURE", "ABORTED"}
            for e in got
        ),
    )
    job: dict[str, Any] = (await stack.http.get(f"/api/jobs/{job_uuid}")).json()
    assert job["status"] == "SUCCESS", (job, ended)
    runs = (await stack.http.get(f"/api/jobs/{job_uuid}/runs")).json()["runs"]
    return {**job, "runs": runs}


async def stop_live_sessions(stack: Stack) -> None:
    listed = await stack.http.get("/api/sessions", params={"live": "true", "limit": 500})
    for session in listed.json()["sessions"]:
        await stack.http.delete(
            f"/api/sessions/{session['project_uuid']}/{session['pipeline_uuid']}"
        )
