"""Every invalid run request: 422 (or 400/413) listing every problem, nothing persisted."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from runs_harness import Project, Stack, whole_stack
from test_runs import count_runs

from orchest_schemas.bus import HEADER_SERVICE_ERROR_CODE
from orchest_schemas.errors import ErrorCode, ErrorReply
from support import eventually


@pytest.fixture(scope="module")
async def stack(module_settings: Callable[..., Any]) -> AsyncIterator[Stack]:
    """One stack for the module's tests: each sends its own project (a new
    pipeline uuid), and ``refused`` compares the runs before and after."""
    async with whole_stack(module_settings, slots=1) as s:
        yield s


@pytest.fixture
def project(project: Project) -> Project:
    """The conftest's project with its steps."""
    project.step("a", "a.sh", "echo a\n")
    project.step("b", "b.py", "print('b')\n", ("a",))
    return project


def types_of(response: Any) -> list[str]:
    return [e["type"] for e in response.json()["errors"]]


async def refused(stack: Stack, body: Any, status: int = 422) -> Any:
    before = await count_runs(stack.database_url)
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = await stack.http.post(
        "/api/runs", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == status, response.text
    assert set(response.json()) == {"message", "errors"}
    assert await count_runs(stack.database_url) == before
    return response


async def test_every_problem_of_a_definition_is_listed(
    stack: Stack, project: Project, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.py"
    outside.write_text("print('outside')\n")
    (project.root / "link.py").symlink_to(outside)
    (project.root / "data.csv").write_text("x\n")
    project.step("ghost", "ghost.sh", None, ("a", "nobody"))  # unknown parent, missing file
    project.step("abs", "/etc/passwd.sh")
    project.step("up", "../escape.py")
    project.step("link", "link.py")
    project.step("csv", "data.csv")
    project.step("c1", "c1.sh", "echo\n", ("c2",))
    project.step("c2", "c2.sh", "echo\n", ("c1",))
    response = await refused(stack, project.body())
    found = types_of(response)
    for kind in ("unknown_step", "absolute_path", "path_escape", "unsupported_file_type", "cycle"):
        assert kind in found, (kind, found)
    cycle = next(e for e in response.json()["errors"] if e["type"] == "cycle")
    assert "C1" in cycle["msg"] and "C2" in cycle["msg"]


async def test_files_are_checked_against_the_project(
    stack: Stack, project: Project, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.py"
    outside.write_text("print('outside')\n")
    (project.root / "link.py").symlink_to(outside)
    (project.root / "folder.py").mkdir()
    project.step("ghost", "ghost.sh", None)
    project.step("link", "link.py")
    project.step("dir", "folder.py")
    response = await refused(stack, project.body())
    assert sorted(types_of(response)) == ["file_missing", "not_a_file", "path_escape"]


async def test_the_same_request_again_has_its_files_checked_again(
    stack: Stack, project: Project
) -> None:
    """The definition's own checks are remembered per distinct definition
    (``create_checks``); the files are looked at on every create."""
    body = project.body()
    for _ in range(2):
        response = await stack.http.post("/api/runs", json=body)
        assert response.status_code == 201, response.text
        await stack.http.delete(f"/api/runs/{response.json()['uuid']}")
    (project.root / "b.py").unlink()
    response = await refused(stack, body)
    assert types_of(response) == ["file_missing"]
    (project.root / "b.py").write_text("print('b')\n")
    response = await stack.http.post("/api/runs", json=body)
    assert response.status_code == 201, response.text
    await stack.http.delete(f"/api/runs/{response.json()['uuid']}")


async def test_commands_straight_over_nats_are_validated_by_the_scheduler(
    stack: Stack, project: Project
) -> None:
    """The scheduler takes the same bytes as a command it parsed lately as
    that command (``CreateRun.model_validate_json``); any other bytes, bad
    ones included, are validated, and each command is a run of its own."""
    good = json.dumps(project.body()).encode()
    bad_bodies = [
        json.dumps({**project.body(), "run_type": "sideways", "uuids": "a"}).encode(),
        json.dumps({**project.body(), "project_uuid": "x", "pipeline_uuid": "y"}).encode(),
        b'{"pipeline_definition": 1',
    ]
    runs = []
    for round_ in range(2):
        msg = await stack.nc.request(stack.bus.create_run, good, timeout=10)
        assert not msg.headers, msg.data
        runs.append(json.loads(msg.data)["uuid"])
        for raw in bad_bodies:
            before = await count_runs(stack.database_url)
            msg = await stack.nc.request(stack.bus.create_run, raw, timeout=10)
            assert msg.headers and HEADER_SERVICE_ERROR_CODE in msg.headers, (round_, raw)
            reply = ErrorReply.model_validate_json(msg.data)
            assert reply.code is ErrorCode.INVALID and reply.errors, reply
            assert await count_runs(stack.database_url) == before
    assert len(set(runs)) == 2
    for run_uuid in runs:
        await stack.http.delete(f"/api/runs/{run_uuid}")


async def test_a_created_run_is_logged(
    stack: Stack, project: Project, caplog: pytest.LogCaptureFixture
) -> None:
    """The line is written once the answer is on its way, with what it told."""
    caplog.set_level(logging.INFO, logger="orchest_scheduler.runs")
    run = await stack.start_run(project.body())
    line = f"run {run['uuid']} created with 2 steps"

    async def logged() -> bool | None:
        return True if line in caplog.messages else None

    await eventually(logged, timeout=10, what="the run's log line")
    await stack.http.delete(f"/api/runs/{run['uuid']}")


async def test_duplicate_step_uuids_are_refused(stack: Stack, project: Project) -> None:
    text = json.dumps(project.body())
    step_a = json.dumps(project.steps["a"])
    # The same key twice in "steps": JSON parsers keep the last one silently.
    doubled = text.replace(f'"a": {step_a}', f'"a": {step_a}, "a": {step_a}', 1)
    assert doubled != text
    response = await refused(stack, doubled.encode())
    assert "duplicate_key" in types_of(response)
    project.steps["copy"] = dict(project.steps["b"])  # a second step claiming uuid "b"
    response = await refused(stack, project.body())
    assert "duplicate_uuid" in types_of(response)


@pytest.mark.parametrize(
    ("change", "kind"),
    [
        ({"run_type": "sideways"}, "enum"),
        ({"run_type": "selection", "uuids": ["nope"]}, "unknown_step"),
        ({"run_type": "selection", "uuids": []}, "empty_selection"),
        ({"run_type": "incoming", "uuids": ["a"]}, "nothing_to_run"),
        ({"run_config": {"project_dir": "relative/dir"}}, "project_dir_not_absolute"),
        ({"run_config": {"project_dir": "/no/such/project"}}, "project_dir_missing"),
        ({"run_config": {}}, "missing"),
        ({"pipeline_definition": {"steps": []}}, "missing"),
    ],
)
async def test_bad_requests_are_422(
    stack: Stack, project: Project, change: dict[str, Any], kind: str
) -> None:
    body = {**project.body(), **change}
    assert kind in types_of(await refused(stack, body))


async def test_malformed_and_oversized_bodies(stack: Stack) -> None:
    assert types_of(await refused(stack, b'{"pipeline_definition": ', 400)) == ["json_invalid"]
    huge = b'{"x": "' + b"y" * (11 * 1024 * 1024) + b'"}'
    await refused(stack, huge, 413)
