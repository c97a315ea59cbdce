"""Projects and their pipelines, as ``orchest projects`` and ``orchest
pipelines`` show them. A project is named by its name (any case), its uuid
or a uuid prefix; a pipeline by its file's path in the project.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from orchest_schemas.projects import PipelineDocument, PipelineList, ProjectList, ProjectView

from .api import Api
from .errors import CliError
from .output import Column, print_table


def find_project(api: Api, name: str) -> ProjectView:
    """The project named ``name`` (any case), or with that uuid or uuid prefix."""
    projects = api.get("/api/projects", ProjectList).projects
    exact = [p for p in projects if name in (p.name, p.uuid)]
    if len(exact) == 1:
        return exact[0]
    found = [
        p
        for p in projects
        if p.name.casefold() == name.casefold() or (len(name) >= 4 and p.uuid.startswith(name))
    ]
    if len(found) == 1:
        return found[0]
    if not found:
        known = ", ".join(p.name for p in projects) or "none"
        raise CliError(f"no project {name!r} (projects: {known})")
    raise CliError(f"{name!r} names {len(found)} projects: " + ", ".join(p.name for p in found))


def list_pipelines(api: Api, project: ProjectView) -> PipelineList:
    return api.get(f"/api/projects/{project.uuid}/pipelines", PipelineList)


def find_pipeline(api: Api, project: ProjectView, path: str) -> PipelineDocument:
    """The project's pipeline file at ``path`` (its definition included)."""
    listed = list_pipelines(api, project).pipelines
    wanted = path.strip("/")
    match = [p for p in listed if p.path in (wanted, f"{wanted}.orchest")]
    if not match:
        known = ", ".join(p.path for p in listed) or "none"
        raise CliError(f"no pipeline {path!r} in project {project.name} (pipelines: {known})")
    summary = match[0]
    if summary.uuid is None:
        problems = "; ".join(p.msg for p in summary.problems)
        raise CliError(f"{summary.path} is not a pipeline: {problems}")
    return api.get(f"/api/projects/{project.uuid}/pipelines/{summary.uuid}", PipelineDocument)


PROJECT_COLUMNS = (
    Column("name", 5),
    Column("kind", 2, no_wrap=True),
    Column("path", 4),
    Column("uuid", 1, no_wrap=True),
)


def print_projects(projects: list[ProjectView], *, wide: bool) -> None:
    from rich.markup import escape

    rows = [
        [
            escape(p.name),
            "managed" if p.managed else "registered",
            escape(p.path) if p.exists else f"{escape(p.path)} [red](missing)[/red]",
            p.uuid,
        ]
        for p in projects
    ]
    print_table(PROJECT_COLUMNS, rows, wide=wide)


PIPELINE_COLUMNS = (
    Column("path", 5),
    Column("name", 4),
    Column("steps", 2, no_wrap=True),
    Column("valid", 3),
    Column("uuid", 1, no_wrap=True),
)


def print_pipelines(listed: PipelineList, *, wide: bool = False) -> None:
    from rich.console import Console
    from rich.markup import escape

    rows = [
        [
            escape(p.path),
            escape(p.name or ""),
            str(p.step_count),
            "[green]yes[/green]" if p.valid else f"[red]no[/red] ({len(p.problems)})",
            p.uuid or "",
        ]
        for p in listed.pipelines
    ]
    print_table(PIPELINE_COLUMNS, rows, wide=wide)
    console = Console()
    for dup in listed.duplicates:
        console.print(f"[yellow]pipeline {dup.uuid} is in several files: {', '.join(dup.paths)}")
    if listed.truncated:
        console.print("[yellow]the search stopped at its limit: not every pipeline is listed")


def create_project(api: Api, name: str, path: Path | None, template: str | None) -> ProjectView:
    body: dict[str, Any] = {"name": name, "idempotency_key": str(uuid.uuid4())}
    if path is not None:
        body["path"] = str(path.resolve())
    if template is not None:
        body["template"] = template
    return api.send("POST", "/api/projects", ProjectView, 201, json=body)


def remove_project(api: Api, project: ProjectView, delete_files: bool) -> None:
    params = {"delete_files": "true"} if delete_files else {}
    api.call("DELETE", f"/api/projects/{project.uuid}", params=params)


def project_line(project: ProjectView) -> str:
    kind = "managed" if project.managed else "registered"
    return f"project {project.name} ({project.uuid}, {kind}) at {project.path}"
