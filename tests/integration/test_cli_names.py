"""The CLI names things as people do: steps by title (any case), file path
or uuid prefix, runs by uuid prefix, pipelines by name, reasons by step
title; ``orchest run`` without a terminal prints one line per state change,
and with ``--logs`` each step's output behind its title."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from runs_harness import Project, Stack
from test_cli_jobs import orchest

from orchest_schemas.runs import RunList

GET_DATA = str(uuid.uuid4())
REPORT = str(uuid.uuid4())


def write_pipeline(root: Path, get_data: str = "echo got 3 rows\n") -> Path:
    project = Project(root)
    project.step(GET_DATA, "get_data.sh", get_data, title="Get data")
    project.step(REPORT, "report.sh", "echo report done\n", parents=(GET_DATA,), title="Report")
    definition = {**project.definition(), "name": "nightly report"}
    path = root / "p.orchest"
    path.write_text(json.dumps(definition))
    return path


def run_uuid_of(out: str) -> str:
    return out.rstrip().split()[-2].rstrip(":")


async def test_steps_and_runs_by_name_live_lines_and_logs(stack: Stack, tmp_path: Path) -> None:
    pipeline = write_pipeline(tmp_path / "project")

    ran = await orchest(stack, "run", str(pipeline), "--step", "get DATA", "--logs")
    assert ran.code == 0, ran.out + ran.err
    lines = ran.out.splitlines()
    first = run_uuid_of(ran.out)
    assert lines.count("Get data: STARTED") == 1, ran.out  # one line per change
    assert sum(line.startswith("Get data: SUCCESS in ") for line in lines) == 1, ran.out
    assert lines.count(f"run {first}: SUCCESS") == 1 and lines[-1] == f"run {first}: SUCCESS"
    assert any(line.startswith("Get data | got 3 rows") for line in lines), ran.out
    run = (await stack.http.get(f"/api/runs/{first}")).json()
    assert [s["step_uuid"] for s in run["pipeline_steps"]] == [GET_DATA]

    for name in ("report.sh", REPORT[:6], "REPORT"):
        again = await orchest(
            stack, "run", str(pipeline), "--step", name, "--type", "selection_with_ancestors"
        )
        assert again.code == 0, (name, again.out + again.err)
        second = run_uuid_of(again.out)
        run = (await stack.http.get(f"/api/runs/{second}")).json()
        assert [s["title"] for s in run["pipeline_steps"]] == ["Get data", "Report"], name

    logs = await orchest(stack, "logs", second[:8], "report")
    assert logs.code == 0 and logs.out.strip() == "report done", logs.out + logs.err
    unknown = await orchest(stack, "logs", second[:8], "nope")
    assert unknown.code == 1 and "its steps: Get data, Report" in unknown.err

    listed = await orchest(stack, "runs", "-o", "json")
    page = RunList.model_validate_json(listed.out)
    assert page.total == 4 and page.runs[-1].uuid == first
    table = await orchest(stack, "runs")  # the name of a pipeline run from its file
    assert table.out.count("nightly report") == 4, table.out


async def test_a_reason_names_the_step_by_its_title(stack: Stack, tmp_path: Path) -> None:
    pipeline = write_pipeline(tmp_path / "project", get_data="echo no data >&2; exit 3\n")
    ran = await orchest(stack, "run", str(pipeline))
    assert ran.code == 1, ran.out + ran.err
    [aborted] = [line for line in ran.out.splitlines() if line.startswith("Report: ABORTED")]
    assert aborted == "Report: ABORTED: an ancestor failed: 'Get data'", ran.out
    assert GET_DATA not in aborted


async def test_runs_show_the_pipeline_name_and_fit_the_terminal(
    stack: Stack, tmp_path: Path
) -> None:
    root = tmp_path / "reports"
    write_pipeline(root)
    added = await orchest(stack, "projects", "add", str(root))
    assert added.code == 0, added.err
    ran = await orchest(stack, "run", "reports/p.orchest")
    assert ran.code == 0, ran.out + ran.err

    narrow = await orchest(stack, "runs", env={"COLUMNS": "70"})
    assert narrow.code == 0, narrow.err
    assert "nightly report" in narrow.out and "SUCCESS" in narrow.out, narrow.out
    assert "…" not in narrow.out, narrow.out
    assert max(len(line) for line in narrow.out.splitlines()) <= 70, narrow.out
    assert "pipeline uuid" not in narrow.out
    wide = await orchest(stack, "runs", "--wide", env={"COLUMNS": "70"})
    assert run_uuid_of(ran.out) in wide.out and "pipeline uuid" in wide.out, wide.out
