"""``orchest projects`` and ``orchest pipelines``: the projects API from the
command line. A project is named by its name (any case), its uuid or a uuid
prefix; a pipeline by its file's path in the project.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import click

from .jobs import call_api
from .runs import CliError


def list_projects(base_url: str) -> list[dict[str, Any]]:
    projects: list[dict[str, Any]] = call_api(base_url, "GET", "/api/projects", 200)["projects"]
    return projects


def find_project(base_url: str, name: str) -> dict[str, Any]:
    """The project named ``name`` (any case), or with that uuid or uuid prefix."""
    projects = list_projects(base_url)
    exact = [p for p in projects if p["name"] == name or p["uuid"] == name]
    if len(exact) == 1:
        return exact[0]
    found = [
        p
        for p in projects
        if p["name"].lower() == name.lower() or (len(name) >= 4 and p["uuid"].startswith(name))
    ]
    if len(found) == 1:
        return found[0]
    if not found:
        known = ", ".join(p["name"] for p in projects) or "none"
        raise CliError(f"no project {name!r} (projects: {known})")
    raise CliError(f"{name!r} names {len(found)} projects: " + ", ".join(p["name"] for p in found))


def list_pipelines(base_url: str, project: dict[str, Any]) -> dict[str, Any]:
    return call_api(base_url, "GET", f"/api/projects/{project['uuid']}/pipelines", 200)


def find_pipeline(base_url: str, project: dict[str, Any], path: str) -> dict[str, Any]:
    """The project's pipeline file at ``path`` (its definition included)."""
    listed = list_pipelines(base_url, project)["pipelines"]
    wanted = path.strip("/")
    match = [p for p in listed if p["path"] == wanted or p["path"] == f"{wanted}.orchest"]
    if not match:
        known = ", ".join(p["path"] for p in listed) or "none"
        raise CliError(f"no pipeline {path!r} in project {project['name']} (pipelines: {known})")
    summary = match[0]
    if summary["uuid"] is None:
        problems = "; ".join(p["msg"] for p in summary["problems"])
        raise CliError(f"{summary['path']} is not a pipeline: {problems}")
    document: dict[str, Any] = call_api(
        base_url, "GET", f"/api/projects/{project['uuid']}/pipelines/{summary['uuid']}", 200
    )
    return document


def project_table(projects: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("name", "uuid", "kind", "path"):
        table.add_column(column, overflow="fold")
    for p in projects:
        kind = "managed" if p["managed"] else "registered"
        path = p["path"] if p["exists"] else f"{p['path']} [red](missing)[/red]"
        table.add_row(p["name"], p["uuid"], kind, path)
    return table


def pipeline_table(listed: dict[str, Any]) -> Any:
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("path", "name", "steps", "valid", "uuid"):
        table.add_column(column, overflow="fold")
    for p in listed["pipelines"]:
        valid = "[green]yes[/green]" if p["valid"] else f"[red]no[/red] ({len(p['problems'])})"
        table.add_row(p["path"], p["name"] or "", str(p["step_count"]), valid, p["uuid"] or "")
    return table


def print_pipelines(listed: dict[str, Any]) -> None:
    from rich.console import Console

    console = Console()
    console.print(pipeline_table(listed))
    for dup in listed["duplicates"]:
        console.print(
            f"[yellow]pipeline {dup['uuid']} is in several files: {', '.join(dup['paths'])}"
        )
    if listed["truncated"]:
        console.print("[yellow]the search stopped at its limit: not every pipeline is listed")


def create_project(
    base_url: str, name: str, path: Path | None, template: str | None
) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "idempotency_key": str(uuid.uuid4())}
    if path is not None:
        body["path"] = str(path.resolve())
    if template is not None:
        body["template"] = template
    return call_api(base_url, "POST", "/api/projects", 201, json=body)


def remove_project(base_url: str, project: dict[str, Any], delete_files: bool) -> None:
    query = "?delete_files=true" if delete_files else ""
    call_api(base_url, "DELETE", f"/api/projects/{project['uuid']}{query}", 200)


def project_line(project: dict[str, Any]) -> str:
    kind = "managed" if project["managed"] else "registered"
    return f"project {project['name']} ({project['uuid']}, {kind}) at {project['path']}"


def echo_project(project: dict[str, Any]) -> None:
    click.echo(project_line(project))
