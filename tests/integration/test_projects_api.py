"""``/api/projects``: projects (managed folders, registered folders, folders
made by hand) and their pipeline files (found, read with an ETag, written
with If-Match, checked as a run would be), through the gateway and the
scheduler against the real servers and a real projects directory."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from runs_harness import Project, Stack, event_log
from sse_client import read_events

from orchest_schemas.events import ProjectChanged, RunStatusChanged, StepStatusChanged

NOBODY = "00000000-0000-4000-8000-000000000000"


@pytest.fixture(scope="module")
def stack(module_stack: Stack) -> Stack:
    """One stack for the module's tests: each makes projects of its own
    names and reads back only those (the events it waits for are its own
    project's, run's or job's); the two that list the whole projects
    directory have a ``fresh_stack`` of their own."""
    return module_stack


def folder_uuid(path: Path) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, path.resolve().as_uri()))


async def create(stack: Stack, status: int = 201, **body: Any) -> dict[str, Any]:
    response = await stack.http.post("/api/projects", json=body)
    assert response.status_code == status, response.text
    answer: dict[str, Any] = response.json()
    return answer


def pipeline_file(root: Path, relative: str, **extra: Any) -> dict[str, Any]:
    """A valid one-step pipeline file at ``relative`` (its step file made too)."""
    project = Project(root)
    project.step("a", "a.sh", "echo a\n")
    definition = {**project.definition(), **extra}
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(definition))
    return definition


def cyclic_steps(definition: dict[str, Any]) -> dict[str, Any]:
    """Steps a -> b -> a, b's file missing (from ``pipeline_file``'s step a)."""
    return {
        "a": {**definition["steps"]["a"], "incoming_connections": ["b"]},
        "b": {
            **definition["steps"]["a"],
            "uuid": "b",
            "file_path": "missing.py",
            "incoming_connections": ["a"],
        },
    }


# -- projects ------------------------------------------------------------------


async def test_a_managed_project_is_a_folder_of_the_projects_directory(fresh_stack: Stack) -> None:
    made = await create(fresh_stack, name="alpha", env_variables={"A": "1"})
    folder = fresh_stack.projects_dir / "alpha"
    assert folder.is_dir() and not any(folder.iterdir())
    assert made["uuid"] == folder_uuid(folder)
    assert made["managed"] and made["exists"] and made["env_variables"] == {"A": "1"}
    listed = (await fresh_stack.http.get("/api/projects")).json()["projects"]
    assert [p["name"] for p in listed] == ["alpha"]
    got = await fresh_stack.http.get(f"/api/projects/{made['uuid']}")
    assert got.status_code == 200 and got.json() == listed[0]
    again = await create(fresh_stack, 409, name="alpha")
    assert "exists" in again["message"]


async def test_a_folder_made_by_hand_is_a_project(fresh_stack: Stack) -> None:
    (fresh_stack.projects_dir / "by-hand").mkdir(parents=True)
    (fresh_stack.projects_dir / ".hidden").mkdir()
    listed = (await fresh_stack.http.get("/api/projects")).json()["projects"]
    assert [(p["name"], p["uuid"]) for p in listed] == [
        ("by-hand", folder_uuid(fresh_stack.projects_dir / "by-hand"))
    ]


async def test_the_quickstart_template_gives_a_valid_pipeline(stack: Stack) -> None:
    made = await create(stack, name="quick", template="quickstart")
    pipelines = (await stack.http.get(f"/api/projects/{made['uuid']}/pipelines")).json()
    [quickstart] = pipelines["pipelines"]
    assert quickstart["path"] == "quickstart.orchest"
    assert quickstart["valid"] and quickstart["step_count"] > 3, quickstart


async def test_a_retried_create_gives_the_same_project(stack: Stack) -> None:
    first = await create(stack, name="once", idempotency_key="k-1")
    second = await create(stack, name="once", idempotency_key="k-1")
    assert first == second


@pytest.mark.parametrize("name", ["../up", ".hidden", "a/b", "", "x" * 101, "nul\u0000"])
async def test_a_project_name_must_be_a_plain_folder_name(stack: Stack, name: str) -> None:
    def folders() -> set[Path]:
        where = stack.projects_dir
        return set(where.iterdir()) if where.exists() else set()

    before = folders()
    refused = await stack.http.post("/api/projects", json={"name": name})
    assert refused.status_code in (400, 422), refused.text
    assert folders() == before


async def test_an_existing_folder_is_registered_where_it_is(stack: Stack, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    made = await create(stack, name="mine", path=str(repo))
    assert made["uuid"] == folder_uuid(repo) and not made["managed"]
    assert made["path"] == str(repo.resolve())
    assert not any(repo.iterdir())  # nothing written in the user's folder
    again = await create(stack, name="mine", path=str(repo))  # the same ask: the same answer
    assert again["uuid"] == made["uuid"]
    twice = await create(stack, 409, name="other", path=str(repo / "."))
    assert "folder" in twice["message"]


@pytest.mark.parametrize(
    ("path", "extra", "message"),
    [
        ("relative/dir", {}, "not an absolute path"),
        ("/nonexistent/folder", {}, "is not a folder"),
        ("{projects}/inner", {}, "inside the projects directory"),
        ("{tmp}", {"template": "quickstart"}, "not written to"),
    ],
)
async def test_a_folder_that_cannot_be_registered_is_refused(
    stack: Stack, tmp_path: Path, path: str, extra: dict[str, Any], message: str
) -> None:
    (stack.projects_dir / "inner").mkdir(parents=True, exist_ok=True)
    body = {"name": "x", "path": path.format(projects=stack.projects_dir, tmp=tmp_path), **extra}
    refused = await create(stack, 422, **body)
    assert message in json.dumps(refused), refused


async def test_rename_and_env_variables(stack: Stack) -> None:
    made = await create(stack, name="before")
    await create(stack, name="taken")
    renamed = await stack.http.patch(
        f"/api/projects/{made['uuid']}", json={"name": "after", "env_variables": {"B": "2"}}
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["uuid"] == made["uuid"]
    assert renamed.json()["path"] == str(stack.projects_dir / "after")
    assert renamed.json()["env_variables"] == {"B": "2"}
    assert (stack.projects_dir / "after").is_dir()
    assert not (stack.projects_dir / "before").exists()
    clash = await stack.http.patch(f"/api/projects/{made['uuid']}", json={"name": "taken"})
    assert clash.status_code == 409
    assert (stack.projects_dir / "after").is_dir()
    bad = await stack.http.patch(f"/api/projects/{made['uuid']}", json={"name": "a/b"})
    assert bad.status_code == 422


async def test_delete_unregisters_and_deletes_files_only_when_asked(
    stack: Stack, tmp_path: Path
) -> None:
    managed = await create(stack, name="managed")
    kept = await stack.http.delete(f"/api/projects/{managed['uuid']}")
    assert kept.status_code == 409 and "delete_files" in kept.json()["message"]
    gone = await stack.http.delete(f"/api/projects/{managed['uuid']}?delete_files=true")
    assert gone.status_code == 200
    assert not (stack.projects_dir / "managed").exists()

    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "keep.txt").write_text("mine")
    registered = await create(stack, name="repo", path=str(repo))
    unregistered = await stack.http.delete(f"/api/projects/{registered['uuid']}")
    assert unregistered.status_code == 200
    assert (repo / "keep.txt").read_text() == "mine"
    assert (await stack.http.get(f"/api/projects/{registered['uuid']}")).status_code == 404


async def test_files_of_a_project_in_use_are_not_deleted(stack: Stack) -> None:
    made = await create(stack, name="busy")
    root = Path(made["path"])
    project = Project(root)
    project.step("a", "a.sh", "sleep 60\n")
    body = project.body()
    body["run_config"]["project_uuid"] = made["uuid"]
    run = await stack.start_run(body)
    try:
        refused = await stack.http.delete(f"/api/projects/{made['uuid']}?delete_files=true")
        assert refused.status_code == 409 and "run(s) not ended" in refused.json()["message"]
        assert await asyncio.to_thread(root.is_dir)
    finally:
        await stack.http.delete(f"/api/runs/{run['uuid']}")


async def test_an_unknown_project_is_404(stack: Stack) -> None:
    for path in (f"/api/projects/{NOBODY}", f"/api/projects/{NOBODY}/pipelines"):
        assert (await stack.http.get(path)).status_code == 404, path


# -- pipelines -----------------------------------------------------------------


async def test_pipelines_are_found_skipping_what_holds_none(stack: Stack) -> None:
    made = await create(stack, name="search")
    root = Path(made["path"])
    pipeline_file(root, "top.orchest")
    pipeline_file(root, "deep/er/nested.orchest")
    for skipped in (".git", "node_modules", ".hidden", "venv-like"):
        pipeline_file(root, f"{skipped}/skipped.orchest")
    (root / "venv-like" / "pyvenv.cfg").write_text("home = /usr\n")
    (root / "broken.orchest").write_text("{not json")
    dup = pipeline_file(root, "copy-a.orchest")
    (root / "copy-b.orchest").write_text(json.dumps(dup))

    listed = (await stack.http.get(f"/api/projects/{made['uuid']}/pipelines")).json()
    paths = [p["path"] for p in listed["pipelines"]]
    assert paths == [
        "broken.orchest",
        "copy-a.orchest",
        "copy-b.orchest",
        "deep/er/nested.orchest",
        "top.orchest",
    ]
    by_path = {p["path"]: p for p in listed["pipelines"]}
    assert not by_path["broken.orchest"]["valid"]
    assert by_path["top.orchest"]["valid"] and by_path["top.orchest"]["step_count"] == 1
    assert listed["duplicates"] == [
        {"uuid": dup["uuid"], "paths": ["copy-a.orchest", "copy-b.orchest"]}
    ]
    clash = await stack.http.get(f"/api/projects/{made['uuid']}/pipelines/{dup['uuid']}")
    assert clash.status_code == 409 and "copy-a.orchest" in clash.json()["message"]


async def test_read_with_an_etag_write_with_if_match(stack: Stack) -> None:
    made = await create(stack, name="edit")
    root = Path(made["path"])
    definition = pipeline_file(root, "p.orchest")
    url = f"/api/projects/{made['uuid']}/pipelines/{definition['uuid']}"

    read = await stack.http.get(url)
    assert read.status_code == 200
    etag = read.json()["etag"]
    assert read.headers["etag"] == f'"{etag}"'
    assert read.json()["definition"] == definition and read.json()["problems"] == []

    changed = {**definition, "name": "renamed"}
    saved = await stack.http.put(url, json=changed, headers={"If-Match": f'"{etag}"'})
    assert saved.status_code == 200, saved.text
    assert saved.json()["etag"] != etag
    assert json.loads((root / "p.orchest").read_text())["name"] == "renamed"

    stale = await stack.http.put(
        url, json={**definition, "name": "lost"}, headers={"If-Match": f'"{etag}"'}
    )
    assert stale.status_code == 412, stale.text
    assert json.loads((root / "p.orchest").read_text())["name"] == "renamed"

    anyway = await stack.http.put(url, json={**definition, "name": "forced"})
    assert anyway.status_code == 200
    leftovers = [name for name in os.listdir(root) if name.endswith(".tmp")]
    assert leftovers == []


async def test_an_invalid_pipeline_is_refused_and_nothing_is_written(stack: Stack) -> None:
    made = await create(stack, name="invalid")
    root = Path(made["path"])
    definition = pipeline_file(root, "p.orchest")
    before = (root / "p.orchest").read_bytes()
    url = f"/api/projects/{made['uuid']}/pipelines/{definition['uuid']}"
    steps = cyclic_steps(definition)
    cyclic = await stack.http.put(url, json={**definition, "steps": steps})
    assert cyclic.status_code == 422
    assert "cycle" in json.dumps(cyclic.json()), cyclic.json()
    missing = await stack.http.put(
        url, json={**definition, "steps": {"b": {**steps["b"], "incoming_connections": []}}}
    )
    assert missing.status_code == 422
    assert "missing.py" in json.dumps(missing.json())
    other_uuid = await stack.http.put(url, json={**definition, "uuid": NOBODY})
    assert other_uuid.status_code == 422
    not_an_object = await stack.http.put(url, json=[1, 2])
    assert not_an_object.status_code == 422
    assert (root / "p.orchest").read_bytes() == before


async def test_a_draft_is_written_with_its_problems_and_cannot_run(stack: Stack) -> None:
    """An editor saves a pipeline being built (a cycle, a step whose file is
    not made yet) as a draft: written, its problems in the answer and on
    every read; a run of it is refused. A draft must still be a pipeline."""
    made = await create(stack, name="draft")
    root = Path(made["path"])
    definition = pipeline_file(root, "p.orchest")
    url = f"/api/projects/{made['uuid']}/pipelines/{definition['uuid']}"
    etag = (await stack.http.get(url)).json()["etag"]
    steps = cyclic_steps(definition)
    draft = {**definition, "steps": steps}
    saved = await stack.http.put(
        url, params={"draft": "true"}, json=draft, headers={"If-Match": f'"{etag}"'}
    )
    assert saved.status_code == 200, saved.text
    assert saved.headers["etag"] == f'"{saved.json()["etag"]}"'
    assert json.loads((root / "p.orchest").read_text()) == draft
    problems = saved.json()["problems"]
    assert {p["type"] for p in problems} == {"cycle"}, problems
    assert all(p["loc"][0] == "steps" and p["loc"][1] in steps for p in problems), problems
    assert (await stack.http.get(url)).json()["problems"] == problems

    refused = await stack.http.post(
        "/api/runs",
        json={
            "project_uuid": made["uuid"],
            "pipeline_uuid": definition["uuid"],
            "run_type": "full",
            "uuids": [],
        },
    )
    assert refused.status_code == 422 and "cycle" in refused.text, refused.text

    no_cycle = {**draft, "steps": {**steps, "a": definition["steps"]["a"]}}
    missing = await stack.http.put(url, params={"draft": "1"}, json=no_cycle)
    assert missing.status_code == 200, missing.text
    [problem] = missing.json()["problems"]
    assert problem["loc"] == ["steps", "b", "file_path"] and "missing.py" in problem["msg"]

    before = (root / "p.orchest").read_bytes()
    for not_a_pipeline in (
        {**draft, "uuid": NOBODY},
        {**draft, "steps": {"a": {"title": "no file_path"}}},
        {**draft, "settings": {"retries": -1}},
    ):
        shape = await stack.http.put(url, params={"draft": "true"}, json=not_a_pipeline)
        assert shape.status_code == 422, shape.text
    assert (root / "p.orchest").read_bytes() == before


async def test_problems_of_a_file_on_disk_are_listed(stack: Stack) -> None:
    made = await create(stack, name="problems")
    root = Path(made["path"])
    definition = pipeline_file(root, "p.orchest")
    definition["steps"]["a"]["file_path"] = "gone.ipynb"
    (root / "p.orchest").write_text(json.dumps(definition))
    read = await stack.http.get(f"/api/projects/{made['uuid']}/pipelines/{definition['uuid']}")
    assert read.status_code == 200
    [problem] = read.json()["problems"]
    assert problem["loc"] == ["steps", "a", "file_path"] and "gone.ipynb" in problem["msg"]


async def test_create_and_delete_a_pipeline_file(stack: Stack, tmp_path: Path) -> None:
    made = await create(stack, name="files")
    root = Path(made["path"])
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, root / "link")
    url = f"/api/projects/{made['uuid']}/pipelines"

    created = await stack.http.post(url, json={"path": "sub/new.orchest", "name": "New"})
    assert created.status_code == 201, created.text
    document = created.json()
    assert created.headers["etag"] == f'"{document["etag"]}"'
    text = (root / "sub" / "new.orchest").read_text()
    # As Orchest writes it: indented by four spaces.
    assert text.startswith('{\n    "name": "New",\n'), text
    on_disk = json.loads(text)
    assert on_disk == {  # what Orchest writes for a new pipeline
        "name": "New",
        "parameters": {},
        "settings": {"auto_eviction": False, "data_passing_memory_size": "1GB"},
        "steps": {},
        "uuid": document["uuid"],
        "version": "1.0.0",
        "services": {},
    }

    again = await stack.http.post(url, json={"path": "sub/new.orchest", "name": "Twice"})
    assert again.status_code == 409
    for bad in ("../x.orchest", "/tmp/x.orchest", "link/x.orchest", "plain.txt"):
        refused = await stack.http.post(url, json={"path": bad, "name": "x"})
        assert refused.status_code == 422, (bad, refused.text)
    assert list(outside.iterdir()) == []

    one = f"{url}/{document['uuid']}"
    stale = await stack.http.delete(one, headers={"If-Match": '"0000"'})
    assert stale.status_code == 412
    deleted = await stack.http.delete(one, headers={"If-Match": f'"{document["etag"]}"'})
    assert deleted.status_code == 200
    assert not (root / "sub" / "new.orchest").exists()
    assert (await stack.http.get(one)).status_code == 404


# -- runs by reference -----------------------------------------------------------


async def test_a_run_by_reference_freezes_the_file_it_was_started_from(stack: Stack) -> None:
    made = await create(stack, name="frozen", env_variables={"A": "project", "B": "project"})
    root = Path(made["path"])
    project = Project(root)
    # Step a waits for the test's go-ahead (its own work), so the file is
    # edited while the run runs.
    project.step("a", "a.sh", "until [ -e go ]; do sleep 0.05; done\necho a\n")
    project.step("b", "b.sh", 'echo "old b $A $B"\n', parents=("a",))
    (root / "new.sh").write_text('echo "new b"\n')
    definition = project.definition()
    (root / "p.orchest").write_text(json.dumps(definition))

    async with event_log(stack) as log:
        response = await stack.http.post(
            "/api/runs",
            json={
                "project_uuid": made["uuid"],
                "pipeline_uuid": definition["uuid"],
                "env_variables": {"B": "run"},
            },
        )
        assert response.status_code == 201, response.text
        run = response.json()
        await log.wait_for(
            lambda seen: any(
                isinstance(e, StepStatusChanged)
                and e.run_uuid == run["uuid"]
                and e.step_uuid == "a"
                and e.status.value == "STARTED"
                for e in seen
            ),
            what="step a started",
        )
        edited = json.loads((root / "p.orchest").read_text())
        edited["steps"]["b"]["file_path"] = "new.sh"
        (root / "p.orchest").write_text(json.dumps(edited))
        (root / "go").touch()
        await log.wait_for(
            lambda seen: any(
                isinstance(e, RunStatusChanged) and e.run_uuid == run["uuid"] and e.status.is_final
                for e in seen
            ),
            what="the run ended",
        )
    final = (await stack.http.get(f"/api/runs/{run['uuid']}")).json()
    assert final["status"] == "SUCCESS" and final["project_uuid"] == made["uuid"]
    logs = await stack.http.get(f"/api/runs/{run['uuid']}/steps/b/logs")
    assert logs.text.strip() == "old b project run"


async def test_a_run_by_reference_is_refused_with_every_reason(stack: Stack) -> None:
    made = await create(stack, name="refusals")
    root = Path(made["path"])
    definition = pipeline_file(root, "p.orchest")
    definition["steps"]["a"]["incoming_connections"] = ["a"]
    (root / "cyclic.orchest").write_text(json.dumps({**definition, "uuid": "cyclic"}))

    async def refused(body: dict[str, Any], status: int) -> str:
        response = await stack.http.post("/api/runs", json=body)
        assert response.status_code == status, response.text
        return json.dumps(response.json())

    assert "no project" in await refused(
        {"project_uuid": NOBODY, "pipeline_uuid": definition["uuid"]}, 404
    )
    assert "no pipeline" in await refused(
        {"project_uuid": made["uuid"], "pipeline_uuid": NOBODY}, 404
    )
    assert "cycle" in await refused({"project_uuid": made["uuid"], "pipeline_uuid": "cyclic"}, 422)
    assert "not both" in await refused(
        {
            "project_uuid": made["uuid"],
            "pipeline_uuid": definition["uuid"],
            "pipeline_definition": definition,
            "run_config": {"project_dir": str(root)},
        },
        422,
    )
    missing = json.loads(await refused({"pipeline_uuid": definition["uuid"]}, 422))
    assert [e["loc"] for e in missing["errors"]] == [["project_uuid"]]


async def test_a_job_by_reference_snapshots_the_project(stack: Stack) -> None:
    made = await create(stack, name="job", env_variables={"A": "project", "B": "project"})
    root = Path(made["path"])
    project = Project(root)
    project.step("a", "a.sh", 'echo "$A $B"\n')
    definition = project.definition()
    (root / "p.orchest").write_text(json.dumps(definition))
    async with event_log(stack) as log:
        response = await stack.http.post(
            "/api/jobs",
            json={
                "name": "by reference",
                "project_uuid": made["uuid"],
                "pipeline_uuid": definition["uuid"],
                "env_variables": {"B": "job"},
            },
        )
        assert response.status_code == 201, response.text
        job = response.json()
        assert job["project_dir"] == made["path"]

        def ended(e: Any) -> bool:
            return (
                isinstance(e, RunStatusChanged) and e.job_uuid == job["uuid"] and e.status.is_final
            )

        events = await log.wait_for(
            lambda seen: any(ended(e) for e in seen), what="the job's run ended"
        )
    run = next(e for e in events if ended(e))
    assert run.status.value == "SUCCESS"
    logs = await stack.http.get(f"/api/runs/{run.run_uuid}/steps/a/logs")
    assert logs.text.strip() == "project job"
    mixed = await stack.http.post(
        "/api/jobs",
        json={
            "name": "mixed",
            "project_uuid": made["uuid"],
            "pipeline_uuid": definition["uuid"],
            "project_dir": str(root),
        },
    )
    assert mixed.status_code == 422 and "not both" in mixed.text


# -- live changes ----------------------------------------------------------------


async def test_a_file_changed_on_disk_is_announced(stack: Stack) -> None:
    made = await create(stack, name="watched")
    root = Path(made["path"])
    subject = stack.bus.project_events(made["uuid"])
    async with event_log(stack, subject) as log:

        def announced(seen: list[Any]) -> bool:
            return any(isinstance(e, ProjectChanged) and e.pipelines == ["p.orchest"] for e in seen)

        # Nothing says when the watcher (started with the scheduler) watches:
        # write until a write is announced.
        for attempt in range(10):
            (root / "p.orchest").write_text(json.dumps({"attempt": attempt}))
            try:
                events = await log.wait_for(announced, timeout=3, what="the change announced")
                break
            except AssertionError:
                continue
        else:
            raise AssertionError("no ProjectChanged for p.orchest")
        (root / "sub").mkdir()
        (root / "sub" / "data.csv").write_text("x\n")
        events = await log.wait_for(
            lambda seen: any(
                isinstance(e, ProjectChanged) and "sub/data.csv" in e.paths for e in seen
            ),
            timeout=10,
            what=f"a nested file announced: {log.events}",
        )
    nested = next(e for e in events if isinstance(e, ProjectChanged) and "sub/data.csv" in e.paths)
    assert nested.project_uuid == made["uuid"] and nested.pipelines == []


async def test_a_folder_made_in_the_projects_directory_is_recorded_by_the_watcher(
    stack: Stack,
) -> None:
    await create(stack, name="first")  # the watcher watches the projects directory
    folder = stack.projects_dir / "cloned"
    folder.mkdir()
    async with event_log(stack, stack.bus.project_events(folder_uuid(folder))) as log:
        for attempt in range(10):
            (folder / f"file{attempt}.txt").write_text("x")
            try:
                await log.wait_for(
                    lambda seen: any(isinstance(e, ProjectChanged) for e in seen),
                    timeout=3,
                    what="the new project's change announced",
                )
                break
            except AssertionError:
                continue
        else:
            raise AssertionError("no ProjectChanged for the new folder")


async def test_env_variables_layer_project_pipeline_run(stack: Stack) -> None:
    made = await create(stack, name="layers", env_variables={"A": "p", "B": "p", "C": "p"})
    root = Path(made["path"])
    project = Project(root)
    project.step("a", "a.sh", 'echo "$A $B $C"\n')
    definition = project.definition()
    (root / "p.orchest").write_text(json.dumps(definition))
    url = f"/api/projects/{made['uuid']}/pipelines/{definition['uuid']}"
    set_env = await stack.http.put(
        f"{url}/env_variables", json={"env_variables": {"B": "pipeline", "C": "pipeline"}}
    )
    assert set_env.status_code == 200, set_env.text
    assert (await stack.http.get(url)).json()["env_variables"] == {"B": "pipeline", "C": "pipeline"}
    bad = await stack.http.put(f"{url}/env_variables", json={"env_variables": {"1X": "y"}})
    assert bad.status_code == 422
    run = await stack.start_run(
        {
            "project_uuid": made["uuid"],
            "pipeline_uuid": definition["uuid"],
            "env_variables": {"C": "run"},
        }
    )
    await stack.events(run["uuid"])
    logs = await stack.http.get(f"/api/runs/{run['uuid']}/steps/a/logs")
    assert logs.text.strip() == "p pipeline run"


async def test_a_pipeline_changed_on_disk_reaches_the_event_stream(stack: Stack) -> None:
    made = await create(stack, name="streamed")
    root = Path(made["path"])

    def mine(e: dict[str, Any]) -> bool:
        return e["event"] == "project_changed" and e["project_uuid"] == made["uuid"]

    def changed(seen: list[dict[str, Any]]) -> bool:
        return any(mine(e) and e["pipelines"] == ["p.orchest"] for e in seen)

    reader = asyncio.create_task(read_events(stack.http, {}, changed))
    # Nothing says when the watcher watches: write until a write is streamed.
    for attempt in range(20):
        written = datetime.now(UTC)
        (root / "p.orchest").write_text(json.dumps({"attempt": attempt}))
        done, _ = await asyncio.wait({reader}, timeout=3)
        if done:
            break
    events = await reader
    assert changed(events)
    event = next(e for e in events if mine(e))
    received = datetime.now(UTC)
    announced = datetime.fromisoformat(event["occurred_at"])
    print(
        f"written -> announced {(announced - written).total_seconds() * 1000:.0f} ms,"
        f" -> received {(received - written).total_seconds() * 1000:.0f} ms"
    )
