"""``GET /api/runs/{run_uuid}/attempts``: every attempt of a run's steps, from
the scheduler's event log through the gateway, on a real stack."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from runs_harness import Project, Stack


def fails_first(marker: Path) -> str:
    """A step that exits 3 on its first attempt and succeeds after."""
    return f'if [ -e "{marker}" ]; then echo second; else touch "{marker}"; exit 3; fi\n'


async def test_a_retried_step_shows_both_attempts(stack: Stack, project: Project) -> None:
    project.settings = {"retry_backoff_seconds": 0.05}
    project.step("flaky", "flaky.sh", fails_first(project.root / "marker"), retries=1)
    project.step("after", "after.sh", "echo after\n", ("flaky",))
    run = await stack.run_to_end(project.body())
    assert run["status"] == "SUCCESS", run

    response = await stack.http.get(f"/api/runs/{run['uuid']}/attempts")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["run_uuid"] == run["uuid"]
    got = [(a["step_uuid"], a["attempt"], a["status"]) for a in body["attempts"]]
    assert got == [("flaky", 1, "FAILURE"), ("flaky", 2, "SUCCESS"), ("after", 1, "SUCCESS")]
    first, second, _ = body["attempts"]
    assert first["exit_code"] == 3 and second["exit_code"] == 0
    for a in body["attempts"]:
        assert datetime.fromisoformat(a["started_time"]) <= datetime.fromisoformat(
            a["finished_time"]
        )
    # The first attempt ended before the retry started; the step's row shows
    # only the latest attempt, with the same times.
    assert first["finished_time"] <= second["started_time"]
    step = next(s for s in run["pipeline_steps"] if s["step_uuid"] == "flaky")
    assert (step["attempt"], step["started_time"], step["finished_time"]) == (
        2,
        second["started_time"],
        second["finished_time"],
    )

    only = await stack.http.get(f"/api/runs/{run['uuid']}/attempts", params={"step_uuid": "flaky"})
    assert [a["attempt"] for a in only.json()["attempts"]] == [1, 2]


async def test_attempts_of_no_run_is_404(stack: Stack) -> None:
    missing = await stack.http.get("/api/runs/00000000-0000-0000-0000-000000000000/attempts")
    assert missing.status_code == 404
    assert "no run" in missing.json()["message"]
    malformed = await stack.http.get("/api/runs/not-a-uuid/attempts")
    assert malformed.status_code == 404
    run = await stack.http.get(
        "/api/runs/00000000-0000-0000-0000-000000000000/attempts", params={"step_uuid": "a\x00"}
    )
    assert run.status_code == 422  # as documented


async def test_the_openapi_document_declares_the_attempts(stack: Stack) -> None:
    doc = (await stack.http.get("/api/openapi.json")).json()
    operation = doc["paths"]["/api/runs/{run_uuid}/attempts"]["get"]
    assert operation["operationId"] == "listRunAttempts"
    assert set(operation["responses"]) >= {"200", "404", "422"}
    body = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/AttemptList"}
    attempt = doc["components"]["schemas"]["StepAttempt"]["properties"]
    assert {"attempt", "status", "exit_code", "error", "started_time", "finished_time"} <= set(
        attempt
    )
