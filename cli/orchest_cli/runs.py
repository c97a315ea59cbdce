"""``orchest run``, ``orchest runs``, ``orchest logs``, ``orchest abort``."""

from __future__ import annotations

import json
import sys
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import click
import httpx

from .assignments import with_parameters
from .auth import auth_headers
from .project_id import project_uuid_of
from .sse import follow

FINAL = {"SUCCESS", "FAILURE", "ABORTED"}
STYLE = {
    "PENDING": "dim",
    "STARTED": "yellow",
    "SUCCESS": "green",
    "FAILURE": "red",
    "ABORTED": "magenta",
}


class CliError(click.ClickException):
    pass


def api_error(response: httpx.Response) -> CliError:
    try:
        body = response.json()
        lines = [body.get("message", response.reason_phrase)]
        for problem in body.get("errors", []):
            where = ".".join(str(part) for part in problem.get("loc", []))
            lines.append(
                f"  - {where}: {problem.get('msg')}" if where else f"  - {problem.get('msg')}"
            )
        return CliError("\n".join(lines))
    except ValueError:
        return CliError(f"HTTP {response.status_code}: {response.text[:500]}")


def select_steps(definition: dict[str, Any], wanted: tuple[str, ...]) -> list[str]:
    """Step uuids from uuids or titles (a title must name one step)."""
    steps: dict[str, Any] = definition.get("steps") or {}
    chosen = []
    for item in wanted:
        if item in steps:
            chosen.append(item)
            continue
        matches = [key for key, step in steps.items() if step.get("title") == item]
        if len(matches) != 1:
            reason = "no step" if not matches else f"{len(matches)} steps"
            raise CliError(f"{reason} titled or with uuid {item!r}")
        chosen.append(matches[0])
    return chosen


@dataclass
class StepRow:
    title: str
    status: str = "PENDING"
    attempt: int = 0
    started: datetime | None = None
    finished: datetime | None = None
    error: str | None = None


@dataclass
class RunProgress:
    run: dict[str, Any]
    steps: dict[str, StepRow] = field(default_factory=dict)
    status: str = "PENDING"

    def __post_init__(self) -> None:
        for step in self.run["pipeline_steps"]:
            self.steps[step["step_uuid"]] = StepRow(step["title"] or step["file_path"])
        self.status = self.run["status"]

    def apply(self, kind: str, event: dict[str, Any]) -> None:
        at = datetime.fromisoformat(event["occurred_at"])
        if kind == "run_status_changed":
            self.status = event["status"]
        elif kind == "step_status_changed" and event["step_uuid"] in self.steps:
            row = self.steps[event["step_uuid"]]
            row.status, row.attempt = event["status"], event["attempt"]
            if row.status == "STARTED":
                row.started, row.finished, row.error = at, None, None
            elif row.status in FINAL:
                row.finished, row.error = at, event.get("error")

    def table(self) -> Any:
        from rich.table import Table

        table = Table(title=f"run {self.run['uuid']}  [{STYLE.get(self.status, '')}]{self.status}")
        for column in ("step", "status", "attempt", "time", "error"):
            table.add_column(column)
        now = datetime.now().astimezone()
        for row in self.steps.values():
            seconds = ""
            if row.started is not None:
                seconds = f"{((row.finished or now) - row.started).total_seconds():.1f}s"
            style = STYLE.get(row.status, "")
            table.add_row(
                row.title,
                f"[{style}]{row.status}[/{style}]",
                str(row.attempt or ""),
                seconds,
                (row.error or "")[:80],
            )
        return table


def run_pipeline(
    base_url: str,
    pipeline_file: Path,
    project_dir: Path | None,
    run_type: str,
    steps: tuple[str, ...],
    env: dict[str, str] | None = None,
    parameters: dict[str, Any] | None = None,
) -> int:
    """Run a pipeline file (its definition sent inline) and follow it."""
    definition = with_parameters(json.loads(pipeline_file.read_text()), parameters or {})
    project = (project_dir or pipeline_file.parent).resolve()
    body = {
        "pipeline_definition": definition,
        "run_type": run_type,
        "uuids": select_steps(definition, steps),
        "run_config": {
            "project_dir": str(project),
            "project_uuid": project_uuid_of(project),
            "env_variables": env or {},
            "pipeline_path": str(pipeline_file.resolve().relative_to(project))
            if pipeline_file.resolve().is_relative_to(project)
            else pipeline_file.name,
        },
        "idempotency_key": str(uuid.uuid4()),
    }
    return start_and_follow(base_url, body)


def run_project_pipeline(
    base_url: str,
    reference: str,
    run_type: str,
    steps: tuple[str, ...],
    env: dict[str, str] | None = None,
) -> int:
    """Run a project's pipeline, ``PROJECT/PIPELINE_PATH``, and follow it."""
    from .projects import find_pipeline, find_project

    project_name, sep, path = reference.partition("/")
    if not sep or not project_name or not path:
        raise CliError(
            f"{reference}: no such file, and not PROJECT/PIPELINE_PATH (a project's pipeline)"
        )
    project = find_project(base_url, project_name)
    document = find_pipeline(base_url, project, path)
    body = {
        "project_uuid": project["uuid"],
        "pipeline_uuid": document["uuid"],
        "run_type": run_type,
        "uuids": select_steps(document["definition"], steps),
        "env_variables": env or {},
        "idempotency_key": str(uuid.uuid4()),
    }
    return start_and_follow(base_url, body)


def start_and_follow(base_url: str, body: dict[str, Any]) -> int:
    """Start the run of ``body``, show it live; exit 0 only on SUCCESS."""
    from rich.console import Console
    from rich.live import Live

    console = Console()
    with httpx.Client(base_url=base_url, headers=auth_headers(), timeout=30.0) as client:
        response = client.post("/api/runs", json=body)
        if response.status_code != 201:
            raise api_error(response)
        progress = RunProgress(response.json())
        run_uuid = progress.run["uuid"]
        try:
            with Live(progress.table(), console=console, refresh_per_second=8) as live:
                for event in follow(
                    client, "/api/events", {"run_uuid": run_uuid, "replay": "true"}
                ):
                    progress.apply(event.event, json.loads(event.data))
                    live.update(progress.table())
                    if event.event == "run_status_changed" and progress.status in FINAL:
                        break
        except KeyboardInterrupt:
            console.print(f"aborting run {run_uuid}")
            client.delete(f"/api/runs/{run_uuid}")
            return 130
        for step_uuid, row in progress.steps.items():
            if row.status == "FAILURE":
                console.rule(f"[red]{row.title}: {row.error or 'failed'}")
                logs = client.get(f"/api/runs/{run_uuid}/steps/{step_uuid}/logs")
                tail = logs.text.splitlines()[-30:] if logs.status_code == 200 else []
                console.print("\n".join(tail) or "(no output)", markup=False, highlight=False)
    console.print(f"\nrun {run_uuid}: {progress.status}")
    return 0 if progress.status == "SUCCESS" else 1


def print_runs(base_url: str, params: dict[str, str]) -> None:
    from rich.console import Console
    from rich.table import Table

    response = httpx.get(
        f"{base_url}/api/runs", params=params, headers=auth_headers(), timeout=30.0
    )
    if response.status_code != 200:
        raise api_error(response)
    page = response.json()
    table = Table(title=f"{len(page['runs'])} of {page['total']} runs")
    table.add_column("uuid", min_width=36, no_wrap=True)
    for column in ("pipeline", "type", "status", "created", "steps"):
        table.add_column(column)
    for run in page["runs"]:
        done = sum(1 for s in run["pipeline_steps"] if s["status"] in FINAL)
        table.add_row(
            run["uuid"],
            run["pipeline_uuid"][:13],
            run["run_type"],
            f"[{STYLE.get(run['status'], '')}]{run['status']}",
            run["created_time"][:19],
            f"{done}/{len(run['pipeline_steps'])}",
        )
    Console().print(table)


def print_logs(base_url: str, run_uuid: str, step: str, follow_log: bool) -> None:
    with httpx.Client(base_url=base_url, headers=auth_headers(), timeout=None) as client:
        response = client.get(f"/api/runs/{run_uuid}")
        if response.status_code != 200:
            raise api_error(response)
        step_uuid = _step_of_run(response.json(), step)
        params = {"follow": "true"} if follow_log else {}
        with client.stream(
            "GET", f"/api/runs/{run_uuid}/steps/{step_uuid}/logs", params=params
        ) as logs:
            if logs.status_code != 200:
                logs.read()
                raise api_error(logs)
            for text in logs.iter_text():
                sys.stdout.write(text)
                sys.stdout.flush()


def abort_run(base_url: str, run_uuid: str) -> str:
    response = httpx.delete(f"{base_url}/api/runs/{run_uuid}", headers=auth_headers(), timeout=30.0)
    if response.status_code != 200:
        raise api_error(response)
    return str(response.json()["status"])


def _step_of_run(run: dict[str, Any], step: str) -> str:
    for row in run["pipeline_steps"]:
        if step in (row["step_uuid"], row["title"]):
            return str(row["step_uuid"])
    raise CliError(f"run {run['uuid']} has no step {step!r}")
