"""Environments and their builds, as ``orchest envs`` shows them. ENV is an
environment's name (any case), its uuid or a uuid prefix."""

from __future__ import annotations

import sys
import time
from typing import Any

from orchest_schemas.environments import BuildList, BuildView, EnvironmentList, EnvironmentView
from orchest_schemas.projects import ProjectView

from .api import Api
from .errors import CliError
from .output import Column, print_table, styled, when

BUILD_STYLE = {
    "PENDING": "yellow",
    "STARTED": "blue",
    "SUCCESS": "green",
    "FAILURE": "red",
    "ABORTED": "magenta",
}
WAIT_POLL_SECONDS = 1.0


def base_path(project: ProjectView) -> str:
    return f"/api/projects/{project.uuid}/environments"


def list_environments(api: Api, project: ProjectView) -> list[EnvironmentView]:
    return api.get(base_path(project), EnvironmentList).environments


def find_environment(api: Api, project: ProjectView, name: str) -> EnvironmentView:
    found = list_environments(api, project)
    exact = [e for e in found if name in (e.name, e.uuid)]
    if len(exact) == 1:
        return exact[0]
    match = [
        e
        for e in found
        if e.name.casefold() == name.casefold() or (len(name) >= 4 and e.uuid.startswith(name))
    ]
    if len(match) == 1:
        return match[0]
    if not match:
        known = ", ".join(e.name for e in found) or "none"
        raise CliError(f"no environment {name!r} in project {project.name} (environments: {known})")
    raise CliError(f"{name!r} names {len(match)} environments: " + ", ".join(e.uuid for e in match))


def create_environment(api: Api, project: ProjectView, body: dict[str, Any]) -> EnvironmentView:
    return api.send("POST", base_path(project), EnvironmentView, 201, json=body)


def start_build(api: Api, environment: EnvironmentView, project: ProjectView) -> BuildView:
    path = f"{base_path(project)}/{environment.uuid}/builds"
    return api.send("POST", path, BuildView, 201)


def get_build(api: Api, project: ProjectView, build: BuildView) -> BuildView:
    path = f"{base_path(project)}/{build.environment_uuid}/builds/{build.uuid}"
    return api.get(path, BuildView)


def wait_for(api: Api, project: ProjectView, build: BuildView) -> BuildView:
    """The build once it ended (its state printed as it changes)."""
    last = None
    while True:
        build = get_build(api, project, build)
        if build.status != last:
            print_build_line(build)
            last = build.status
        if build.status.is_final:
            return build
        time.sleep(WAIT_POLL_SECONDS)


def follow_build(api: Api, project: ProjectView, build: BuildView, wait: bool) -> None:
    """Its state now, or with ``wait`` as it changes until it ends (a
    ``CliError`` unless it succeeded)."""
    if not wait:
        print_build_line(build)
        return
    ended = wait_for(api, project, build)
    if ended.status != "SUCCESS":
        raise CliError(f"the build ended {ended.status}: {ended.reason or 'no reason given'}")


def latest_build(api: Api, project: ProjectView, environment: EnvironmentView) -> BuildView:
    listed = api.get(f"{base_path(project)}/{environment.uuid}/builds", BuildList).builds
    if not listed:
        raise CliError(f"environment {environment.name} has no build (orchest envs build)")
    return listed[0]


def find_build(api: Api, project: ProjectView, environment: EnvironmentView, ref: str) -> BuildView:
    listed = api.get(f"{base_path(project)}/{environment.uuid}/builds", BuildList).builds
    match = [b for b in listed if b.uuid.startswith(ref)]
    if len(match) != 1:
        raise CliError(f"{ref!r} names {len(match)} builds of environment {environment.name}")
    return match[0]


def print_log(api: Api, project: ProjectView, build: BuildView, follow: bool) -> None:
    params = {"follow": "true"} if follow else {}
    path = f"{base_path(project)}/{build.environment_uuid}/builds/{build.uuid}/logs"
    with api.stream(path, params=params) as answer:
        for text in answer.iter_text():
            sys.stdout.write(text)
            sys.stdout.flush()


def remove_environment(api: Api, project: ProjectView, environment: EnvironmentView) -> None:
    api.call("DELETE", f"{base_path(project)}/{environment.uuid}")


ENV_COLUMNS = (
    Column("name", 4),
    Column("language", 2, no_wrap=True),
    Column("base", 4),
    Column("build", 3),
    Column("uuid", 1, no_wrap=True),
)


def print_environments(found: list[EnvironmentView], *, wide: bool) -> None:
    from rich.markup import escape

    rows = []
    for e in found:
        build = e.latest_build
        state = styled(build.status, BUILD_STYLE) if build is not None else "-"
        if e.problems:
            state = f"[red]unreadable[/red] ({len(e.problems)})"
        rows.append([escape(e.name), e.language, escape(e.base_image), state, e.uuid])
    print_table(ENV_COLUMNS, rows, wide=wide)


def print_build_line(build: BuildView) -> None:
    import click

    what = build.venv_path or build.image or ""
    detail = f": {build.reason}" if build.reason else (f" {what}" if what else "")
    at = when(build.finished_time or build.started_time or build.created_time)
    click.echo(f"build {build.uuid} {build.status.value} at {at}{detail}")
