"""The dashboard's jobs views in a real browser against a real stack.

``orchest up`` starts the stack with API tokens; the quickstart project and a
draft job on a pipeline whose one step sleeps are made through the API; then
``ui/e2e/jobs.mjs`` drives Debian's chromium: from the quickstart's pipeline
page to a new job, a cron job with a 2x2 grid (seed x test_fraction; a third
seed added, then its two rows deselected), the next firing times seen before
saving, a bad value and a bad cron expression seen refused inline, a name
the API refuses seen with its problem at the field; "trigger
now" and its 4 runs seen appearing and succeeding on the job's page with
their parameters, with no reload; pause and resume; the runs list filtered by
the job; the long job's draft started and its run aborted. What the page
showed is checked here against what the API holds.

Screenshots: as ``test_dashboard.py`` (``ORCHEST_TEST_SCREENSHOTS=DIR``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from dashboard_browser import (
    api,
    browser_run,
    make_long_pipeline,
    quickstart_dashboard,
    screenshots_dir,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

TRAIN = "6849025a-29fd-4850-8883-56b3ad8a2057"  # the quickstart's Train step
GRID = [(seed, fraction) for seed in (7, 8) for fraction in (0.2, 0.3)]


def expected_sets() -> list[dict[str, Any]]:
    """The four sets the page sends: every parameter, seed and test_fraction varied."""
    return [
        {
            "pipeline_parameters": {"rows": 200, "seed": seed},
            "22fc65a9-50ab-4d27-9ba7-a43f30498990": {"window": 5},
            TRAIN: {"test_fraction": fraction},
        }
        for seed, fraction in GRID
    ]


def test_a_cron_job_with_a_2x2_grid_is_made_and_followed_live(
    workdir: Path, tmp_path: Path
) -> None:
    shots = screenshots_dir(tmp_path)
    with quickstart_dashboard(workdir) as (stack, _), api(stack) as http:
        project, pipeline = make_long_pipeline(http)
        draft = {
            "name": "long-job",
            "project_uuid": project,
            "pipeline_uuid": pipeline,
            "draft": True,
        }
        made = http.post("/api/jobs", json=draft)
        assert made.status_code == 201, made.text
        seen = browser_run("jobs.mjs", stack.url, shots, timeout=1000)
        assert seen["ok"], f"{seen.get('failure')} at {seen.get('at')} (screenshots in {shots})"
        job_uuid = seen["jobUrl"].rsplit("/", 1)[1]
        job = http.get(f"/api/jobs/{job_uuid}").json()
        runs = http.get(f"/api/jobs/{job_uuid}/runs").json()["runs"]
        long_runs = http.get(f"/api/jobs/{made.json()['uuid']}/runs").json()["runs"]

    assert seen["errors"] == []
    # The form: the pipeline preselected, its parameters as the grid's rows.
    assert seen["preselected"] == "demo / quickstart"
    assert seen["params"] == [
        "Pipeline.rows",
        "Pipeline.seed",
        "Features.window",
        "Train.test_fraction",
    ]
    assert "not a JSON value" in seen["valueProblem"]
    assert seen["countBefore"].startswith("6 runs")
    assert seen["deselectedRows"] == ["9", "9"]
    assert seen["runCount"].startswith("4 runs per execution (2 of 6 combinations deselected)")
    assert "not a valid cron schedule" in seen["cronProblems"]
    # A name the API refuses: its problem at the field, the refusal in full above.
    assert "at most 255 characters" in seen["nameProblem"], seen["nameProblem"]
    assert "invalid CreateJob: 1 problem(s) (422)" in seen["refusal"], seen["refusal"]

    # The next firing times, shown before saving, are the job's.
    firings = [datetime.fromisoformat(t) for t in seen["nextFirings"]]
    assert all((t.hour, t.minute, t.utcoffset()) == (3, 0, timedelta(0)) for t in firings)
    assert [b - a for a, b in pairwise(firings)] == [timedelta(days=1)] * 4
    assert job["next_scheduled_time"] == seen["nextFirings"][0]
    assert seen["nextShown"] == seen["firstFiringShown"]
    assert seen["schedule"] == "cron 0 3 * * * (UTC)"

    # What was sent: the 4 selected sets, the env variable, the cron.
    assert job["parameters"] == expected_sets()
    assert job["env_variables"] == {"GRID_E2E": "yes"}
    assert job["cron_schedule"] == "0 3 * * *"
    assert job["run_counts"] == {"SUCCESS": 4}

    # The 4 runs, seen on the page with their parameters, each going to SUCCESS live.
    assert sorted(r["parameters"]["pipeline_parameters"]["seed"] for r in runs) == [7, 7, 8, 8]
    assert all(r["status"] == "SUCCESS" for r in runs)
    shown = sorted(seen["runParams"])
    assert len(shown) == 4
    for seed, fraction in GRID:
        assert any(f"seed={seed}" in p and f"Train test_fraction={fraction}" in p for p in shown)
    assert not any("seed=9" in p for p in shown)
    transitions = seen["runTransitions"]
    for run in runs:
        states = transitions[run["uuid"]]
        assert states[-1] == "SUCCESS" and len(states) >= 2, (run["uuid"], states)
    assert "4" in seen["counts"]

    assert seen["paused"] and seen["resumed"]
    assert seen["filteredUrl"].endswith(f"/runs?job_uuid={job_uuid}")
    assert seen["filteredRows"] == 4
    assert seen["filterJob"] == "grid-e2e"
    assert set(seen["jobsListed"]) == {"grid-e2e", "long-job"}

    # The long job's run: seen running, then aborted from the page.
    (aborted,) = long_runs
    assert aborted["status"] == "ABORTED"
    states = seen["abortTransitions"][aborted["uuid"]]
    assert "STARTED" in states and states[-1] == "ABORTED", states
