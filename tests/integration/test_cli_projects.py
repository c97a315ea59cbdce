"""``orchest projects``, ``orchest pipelines`` and ``orchest run
PROJECT/PIPELINE_PATH`` as a user runs them, against a whole stack."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from runs_harness import Project, Stack
from test_cli_jobs import orchest

from orchest_cli.project_id import project_uuid_of


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A folder of the user's holding a pipeline of two shell steps."""
    root = tmp_path / "my-repo"
    project = Project(root)
    project.step("a", "a.sh", 'echo "a saw $GREETING"\n')
    project.step("b", "b.sh", "echo b\n", parents=("a",))
    (root / "flows").mkdir(parents=True)
    (root / "flows" / "main.orchest").write_text(json.dumps(project.definition()))
    return root


async def test_projects_from_the_command_line(stack: Stack, repo: Path) -> None:
    created = await orchest(stack, "projects", "create", "demo", "--template", "quickstart")
    assert created.code == 0, created.err
    assert created.out.startswith("project demo (") and "managed" in created.out

    added = await orchest(stack, "projects", "add", str(repo))
    assert added.code == 0, added.err
    assert f"project my-repo ({project_uuid_of(repo)}, registered)" in added.out

    listed = await orchest(stack, "projects", "list")
    assert listed.code == 0, listed.err
    assert "demo" in listed.out and "my-repo" in listed.out and "registered" in listed.out

    shown = await orchest(stack, "projects", "show", "DEMO")
    assert shown.code == 0, shown.err
    assert "quickstart.orchest" in shown.out and "yes" in shown.out

    pipelines = await orchest(stack, "pipelines", "list", "my-repo")
    assert pipelines.code == 0, pipelines.err
    assert "flows/main.orchest" in pipelines.out

    unknown = await orchest(stack, "pipelines", "list", "nope")
    assert unknown.code == 1 and "no project 'nope'" in unknown.err
    assert "Traceback" not in unknown.err

    removed = await orchest(stack, "projects", "rm", "my-repo")
    assert removed.code == 0, removed.err
    assert repo.joinpath("a.sh").exists()
    refused = await orchest(stack, "projects", "rm", "demo")
    assert refused.code == 1 and "delete_files" in refused.err


async def test_run_a_projects_pipeline_by_its_path(stack: Stack, repo: Path) -> None:
    added = await orchest(stack, "projects", "add", str(repo), "--name", "mine")
    assert added.code == 0, added.err
    ran = await orchest(
        stack, "run", "mine/flows/main.orchest", "--step", "A", "--env", "GREETING=hi"
    )
    assert ran.code == 0, ran.out + ran.err
    assert ran.out.rstrip().endswith("SUCCESS")
    run_uuid = ran.out.split()[-2].rstrip(":")
    run = (await stack.http.get(f"/api/runs/{run_uuid}")).json()
    assert run["project_uuid"] == project_uuid_of(repo)
    assert [s["step_uuid"] for s in run["pipeline_steps"]] == ["a"]
    logs = await stack.http.get(f"/api/runs/{run_uuid}/steps/a/logs")
    assert logs.text.strip() == "a saw hi"

    missing = await orchest(stack, "run", "mine/flows/other.orchest")
    assert missing.code == 1 and "no pipeline 'flows/other.orchest'" in missing.err
    neither = await orchest(stack, "run", "not-a-file.orchest")
    assert neither.code == 1 and "not PROJECT/PIPELINE_PATH" in neither.err
