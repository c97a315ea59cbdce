"""The dashboard's environments views in a real browser against a real stack.

``orchest up`` starts the stack with API tokens (process builds, their venvs
under the test's folder); a project is made through the API with an
environment "busy" that the one step of its pipeline names and a draft job
of that pipeline so uses; then ``ui/e2e/envs.mjs`` drives Debian's chromium:
from the project's page to its environments, a name the API refuses seen at
its field, an environment created whose setup script prints a few lines (one
in colour) and ``pip install``s pyjokes, its build seen going STARTED ->
SUCCESS live with its log lines (STARTED may pass within one frame under
load); the script edited to ``exit 3``, the new
build seen FAILED with its log; a sleeping build cancelled; the list showing
the latest state; the environment deleted; "busy"'s delete refused (409),
the refusal shown. What the page showed is checked here against what the
API holds.

Screenshots: as ``test_dashboard.py`` (``ORCHEST_TEST_SCREENSHOTS=DIR``).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from dashboard_browser import TOKEN, UI, api, browser_run, make_pipeline, screenshots_dir
from e2e_stack import make_stack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]


def make_busy_environment(http: httpx.Client) -> tuple[str, str]:
    """A project "envs-e2e" with an environment "busy" that the one step of
    its pipeline names and a draft job of that pipeline uses; returns the
    project's and the environment's uuids."""
    project, pipeline = make_pipeline(
        http,
        "envs-e2e",
        "uses-busy",
        {"hello.sh": ("shell", "echo hello\n")},
        {"hello": {"title": "Hello", "file_path": "hello.sh"}},
    )
    base = f"/api/projects/{project}"
    env = http.post(f"{base}/environments", json={"name": "busy", "setup_script": "echo ok\n"})
    assert env.status_code == 201, env.text
    busy: str = env.json()["uuid"]
    document = http.get(f"{base}/pipelines/{pipeline}").json()
    definition = dict(document["definition"])
    definition["steps"]["hello"]["environment"] = busy
    saved = http.put(
        f"{base}/pipelines/{pipeline}",
        json=definition,
        headers={"If-Match": f'"{document["etag"]}"'},
    )
    assert saved.status_code == 200, saved.text
    job = {"name": "busy-job", "project_uuid": project, "pipeline_uuid": pipeline, "draft": True}
    made = http.post("/api/jobs", json=job)
    assert made.status_code == 201, made.text
    return project, busy


def test_an_environment_is_built_followed_live_and_fails_when_its_script_does(
    workdir: Path, tmp_path: Path
) -> None:
    assert (UI / "dist" / "index.html").exists(), "the dashboard is not built: run make install"
    stack = make_stack(
        workdir,
        ORCHEST_API_TOKENS=TOKEN,
        ORCHEST_API_TOKEN=TOKEN,
        ORCHEST_UI_DIR=str(UI / "dist"),
        ORCHEST_ENVIRONMENTS_DIR=str(workdir / "environments"),
    )
    shots = screenshots_dir(tmp_path)
    try:
        stack.up()
        with api(stack) as http:
            project, busy = make_busy_environment(http)
            seen = browser_run("envs.mjs", stack.url, shots, project, timeout=1000)
            assert seen["ok"], f"{seen.get('failure')} at {seen.get('at')} (screenshots in {shots})"
            left = http.get(f"/api/projects/{project}/environments").json()["environments"]
            # The pinned-by-a-job environment is still there: the refusal was the API's.
            assert [e["uuid"] for e in left] == [busy]
    finally:
        stack.orchest("down")

    assert seen["errors"] == []
    assert seen["navLink"] == 1
    assert "at most 255 characters" in seen["nameProblem"], seen["nameProblem"]

    # The first build: seen going (a state before its end, its first line
    # shown before it ended), then SUCCESS, live. (STARTED itself may last
    # less than the page's frame under load: events are applied once a frame.)
    first = seen["transitions"][seen["firstBuild"]]
    assert first[-1] == "SUCCESS" and len(first) >= 2, first
    assert set(first[:-1]) <= {"PENDING", "STARTED"}, first
    assert seen["firstLineWhileGoing"] in ("STARTED", "SUCCESS")
    log = seen["successLog"]
    assert "preparing the jokes environment" in log
    assert "pyjokes" in log and "installed" in log, log
    assert seen["greenSpans"] == ["green means go"]
    assert "JOKES_E2E" in seen["facts"]

    # The script edited to fail: a new build, FAILURE with its exit code and log.
    second = seen["transitions"][seen["secondBuild"]]
    assert second[-1] == "FAILURE", second
    assert "about to fail" in seen["failureLog"]
    assert "exit 3" in seen["failureRow"], seen["failureRow"]

    # The sleeping build cancelled.
    third = seen["transitions"][seen["thirdBuild"]]
    assert third[-1] == "ABORTED", third
    assert seen["listStatus"] == "ABORTED"
    assert "jokes" in seen["listRow"]

    assert seen["listedAfter"] == ["busy"]

    # The environment a draft job uses: its delete refused with the API's 409, shown.
    assert "in use" in seen["refusal"] and "(409)" in seen["refusal"], seen["refusal"]
    assert "1 job(s) not ended" in seen["refusal"], seen["refusal"]
    assert seen["stayedAt"].split("?")[0].endswith(f"/environments/{busy}")
