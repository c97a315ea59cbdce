"""The dashboard's step panel, run timeline, sessions and token prompt in a
real browser against a real ``orchest up`` stack (with API tokens).

Two projects are made through the API: the quickstart, and "retries", whose
pipeline "flaky" has one notebook step that raises on its first attempt and,
retried, runs until the browser saw it running (it writes a file the step
waits for), then succeeds. ``ui/e2e/steps.mjs`` then drives Debian's
chromium: a wrong token refused and the right one admitting; the quickstart's Report step run and its
executed notebook rendered in the step panel (and downloaded); the flaky run's
timeline with both attempts as bars, the running one growing, a bar's tip;
the step panel's two attempts and the first one's traceback in colour; a
session launched from the Sessions page on the process runtime and its
JupyterLab reached in a new tab, then stopped; and a refused token (a 401)
taking the tab back to the prompt. Screenshots as in ``test_dashboard.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dashboard_browser import (
    api,
    browser_run,
    make_pipeline,
    quickstart_dashboard,
    screenshots_dir,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

FLAKY_CELL = """import os, time
marker = "first-attempt.done"
if not os.path.exists(marker):
    open(marker, "w").close()
    raise ValueError("the first attempt fails on purpose")
# The retried attempt runs until the browser saw its bar grow on the timeline
# and wrote release.done (at most 10 minutes: a script that failed before
# does not keep the stack up).
deadline = time.monotonic() + 600
while not os.path.exists("release.done") and time.monotonic() < deadline:
    time.sleep(0.1)  # wait-ok: another process's file, no event to await
print("the retry succeeded")
"""
RELEASE = "release.done"
"""The file (in the flaky project) that ends the retried attempt."""


def flaky_notebook() -> str:
    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": "# Flaky\n\nFails **once**."},
        {
            "cell_type": "code",
            "execution_count": None,
            "metadata": {},
            "outputs": [],
            "source": FLAKY_CELL,
        },
    ]
    kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return json.dumps(
        {"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": kernelspec}, "cells": cells}
    )


def test_step_panel_timeline_sessions_and_token(workdir: Path, tmp_path: Path) -> None:
    shots = screenshots_dir(tmp_path)
    with quickstart_dashboard(workdir) as (stack, _):
        with api(stack) as http:
            project, _ = make_pipeline(
                http,
                "retries",
                "flaky",
                {"flaky.ipynb": ("notebook", flaky_notebook())},
                {"flaky": {"title": "Flaky", "file_path": "flaky.ipynb"}},
                {"retries": 1, "retry_backoff_seconds": 0.2},
            )
            release = Path(http.get(f"/api/projects/{project}").json()["path"]) / RELEASE
        seen = browser_run("steps.mjs", stack.url, shots, str(release), timeout=1000)

    assert seen["ok"], f"{seen.get('failure')} at {seen.get('at')} (screenshots in {shots})"
    assert seen["errors"] == []

    # The token prompt: a wrong token refused, the right one admitted.
    assert "refused" in seen["wrongTokenRefused"]
    assert seen["admitted"]

    # The Report notebook, executed in the run, rendered: its Markdown title,
    # its cells' outputs (the summary it prints), offered as a download.
    notebook = seen["notebook"]
    assert "Report" in notebook["headings"], notebook
    assert any("Loaded stats of" in o for o in notebook["outputs"]), notebook
    assert notebook["download"].endswith("executed.ipynb")
    assert notebook["downloadedName"] == notebook["download"]
    assert notebook["attempts"] == ["1"]

    # The flaky run's timeline: both attempts as bars, the second seen running and growing.
    assert seen["timelineWhileRunning"] == [
        {"attempt": 1, "status": "FAILURE"},
        {"attempt": 2, "status": "STARTED"},
    ]
    assert seen["runningBarGrew"] is True
    assert [(b["attempt"], b["status"]) for b in seen["timeline"]] == [
        (1, "FAILURE"),
        (2, "SUCCESS"),
    ]
    assert all(b["width"] > 0 for b in seen["timeline"])
    assert "Attempt 1: Failed" in seen["tip"] and "Exit code" in seen["tip"], seen["tip"]

    # The step panel's attempts, and the first attempt's traceback in colour.
    assert [(a["attempt"], a["status"]) for a in seen["attempts"]] == [
        (1, "FAILURE"),
        (2, "SUCCESS"),
    ]
    assert "the first attempt fails on purpose" in seen["traceback"]["text"]
    assert seen["traceback"]["coloured"] > 0

    # A session launched from the Sessions page, its JupyterLab reached, stopped.
    assert seen["sessionRuntime"] == "process"
    assert "/lab" in seen["lab"]["url"]
    assert "quickstart.orchest" in seen["lab"]["files"], seen["lab"]
    assert seen["sessionStopped"]

    # A 401 takes the tab back to the prompt.
    assert seen["backToPrompt"]
    names = {Path(p).name for p in seen["screenshots"]}
    assert names >= {
        "token-refused.png",
        "step-notebook.png",
        "run-timeline.png",
        "step-attempts.png",
        "step-traceback.png",
        "sessions-live.png",
        "session-lab.png",
    }
