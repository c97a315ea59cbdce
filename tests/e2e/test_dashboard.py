"""The web dashboard in a real browser against a real stack.

``orchest up`` starts the stack with API tokens; a project is made from the
quickstart template through the API; then ``ui/e2e/dashboard.mjs`` drives
Debian's chromium (playwright-core) through the token prompt, Home, the
quickstart pipeline (a "selection with ancestors" run and a full run watched
live on the DAG, a step's log followed while it runs), a long step aborted
(a second pipeline made through the projects API), the runs list, a run's
timeline, jobs and sessions, and prints what it saw, checked here. Its
screenshots (and the failing page's) are kept in the test's ``tmp_path``,
or in ``ORCHEST_TEST_SCREENSHOTS`` when set (how ``docs/images`` is refreshed).

Needs the built dashboard (``make install`` builds ``ui/dist``), node and
``/usr/bin/chromium`` (``scripts/test-env.sh`` installs it as root).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from dashboard_browser import (
    QUICKSTART_STEPS,
    api,
    browser_run,
    make_long_pipeline,
    quickstart_dashboard,
    screenshots_dir,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


def test_dashboard_runs_the_quickstart_live(workdir: Path, tmp_path: Path) -> None:
    shots = screenshots_dir(tmp_path)
    with quickstart_dashboard(workdir) as (stack, up):
        assert f"Dashboard: {stack.url}/" in up
        with api(stack) as http:
            make_long_pipeline(http)
        seen = browser_run("dashboard.mjs", stack.url, shots)

    assert seen["ok"], f"{seen.get('failure')} at {seen.get('at')} (screenshots in {shots})"
    assert seen["errors"] == []
    assert seen["tokenPrompt"]
    assert all(line.startswith("✔") for line in seen["health"]), seen["health"]
    assert seen["steps"] == QUICKSTART_STEPS

    # "Selection with ancestors" of Clean and Stats: highlighted before the
    # click, then exactly those steps and Get data ran, seen turning green live.
    chosen = {"Get data", "Clean", "Stats"}
    assert set(seen["highlighted"]) == chosen
    partial = seen["partial"]
    assert {t for t, s in partial["statuses"].items() if s == "SUCCESS"} == chosen
    assert {t for t, s in partial["statuses"].items() if s == "NONE"} == set(
        QUICKSTART_STEPS
    ) - chosen
    assert set(partial["transitions"]) == chosen, partial["transitions"]

    # The full run: every step went STARTED then SUCCESS on the page, with no reload.
    full = seen["full"]
    assert full["url"] != partial["url"]
    for title in QUICKSTART_STEPS:
        states = full["transitions"][title]
        assert states[-2:] == ["STARTED", "SUCCESS"], (title, states)

    # Stats' log, followed while the step ran, then complete.
    assert "raw.csv: 200 rows" in seen["log"]
    assert "● live" in seen["logStates"] and seen["logStates"][-1] == "complete"

    # Through the selections and both runs, no step was hidden again once
    # shown (each blink is a moment a click on it would have missed).
    assert seen["blinks"] == []

    # The long step's log while it ran; aborted from the page, seen ABORTED.
    assert "sleeping" in seen["longLog"]["text"]
    assert seen["longLog"]["state"] == "● live"
    assert seen["aborted"] == {"Sleep": "ABORTED"}

    # The runs list holds the three runs; the full run's timeline has a bar per step.
    assert seen["runRows"] == 3
    assert seen["timelineBars"] == len(QUICKSTART_STEPS)
    assert {Path(p).name for p in seen["screenshots"]} >= {
        "token-prompt.png",
        "home.png",
        "pipeline-preview.png",
        "pipeline.png",
        "pipeline-aborted.png",
        "runs.png",
        "run.png",
        "jobs.png",
        "sessions.png",
    }
