"""``orchest projects``, ``orchest pipelines``, ``orchest init`` and
``orchest validate``. PROJECT: a name (any case), uuid or uuid prefix."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import CliError
from ..output import emit, output_option, wide_option
from .common import base_url, stack_options


@click.group()
def projects() -> None:
    """Projects: folders of pipelines, in the projects directory or registered
    where they are (see docs/projects.md). PROJECT: a name, uuid or uuid prefix."""


@projects.command("list")
@stack_options
@output_option
@wide_option
def projects_list(state_dir: Path | None, url: str | None, output: str, wide: bool) -> None:
    """Every project."""
    from orchest_schemas.projects import ProjectList

    from ..api import Api
    from ..projects import print_projects

    with Api(base_url(state_dir, url)) as api:
        listed = api.get("/api/projects", ProjectList)
    emit(listed, output) if output != "table" else print_projects(listed.projects, wide=wide)


@projects.command("create")
@stack_options
@click.argument("name")
@click.option("--template", type=click.Choice(["quickstart"]), default=None)
def projects_create(
    state_dir: Path | None, url: str | None, name: str, template: str | None
) -> None:
    """Create a project folder NAME in the projects directory (empty, or from a template)."""
    from ..api import Api
    from ..projects import create_project, project_line

    with Api(base_url(state_dir, url)) as api:
        click.echo(project_line(create_project(api, name, None, template)))


@projects.command("add")
@stack_options
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--name", default=None, help="The project's name [default: the folder's].")
def projects_add(state_dir: Path | None, url: str | None, path: Path, name: str | None) -> None:
    """Register an existing folder as a project, where it is (nothing is written in it)."""
    from ..api import Api
    from ..projects import create_project, project_line

    with Api(base_url(state_dir, url)) as api:
        click.echo(project_line(create_project(api, name or path.resolve().name, path, None)))


@projects.command("show")
@stack_options
@click.argument("project")
@output_option
def projects_show(state_dir: Path | None, url: str | None, project: str, output: str) -> None:
    """A project and its pipelines."""
    from ..api import Api
    from ..projects import find_project, list_pipelines, print_pipelines, project_line

    with Api(base_url(state_dir, url)) as api:
        found = find_project(api, project)
        pipelines = list_pipelines(api, found)
    if output != "table":
        emit({"project": found, "pipelines": pipelines}, output)
        return
    click.echo(project_line(found))
    for key, value in sorted(found.env_variables.items()):
        click.echo(f"  {key}={value}")
    print_pipelines(pipelines)


@projects.command("rm")
@stack_options
@click.argument("project")
@click.option("--delete-files", is_flag=True, help="Delete the project's folder too.")
def projects_rm(state_dir: Path | None, url: str | None, project: str, delete_files: bool) -> None:
    """Unregister a project (with --delete-files, delete its folder too)."""
    from ..api import Api
    from ..projects import find_project, remove_project

    with Api(base_url(state_dir, url)) as api:
        found = find_project(api, project)
        remove_project(api, found, delete_files)
    click.echo(f"project {found.name} removed" + (" with its files" if delete_files else ""))


@click.group()
def pipelines() -> None:
    """A project's pipeline files."""


@pipelines.command("list")
@stack_options
@click.argument("project")
@output_option
@wide_option
def pipelines_list(
    state_dir: Path | None, url: str | None, project: str, output: str, wide: bool
) -> None:
    """The pipelines of PROJECT (name, uuid or uuid prefix), each checked."""
    from ..api import Api
    from ..projects import find_project, list_pipelines, print_pipelines

    with Api(base_url(state_dir, url)) as api:
        listed = list_pipelines(api, find_project(api, project))
    emit(listed, output) if output != "table" else print_pipelines(listed, wide=wide)


@click.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option("--name", default=None, help="The pipeline's name [default: the folder's].")
def init(folder: Path, name: str | None) -> None:
    """Make FOLDER a project with an example pipeline (two steps: a Python
    script, then a shell script reading what it wrote)."""
    from ..starter import write_starter

    written = write_starter(folder, name or folder.resolve().name)
    pipeline = written[0]
    click.echo(f"wrote {', '.join(str(p) for p in written)}")
    click.echo(f"run it:       orchest run {pipeline} --logs")
    click.echo(f"check it:     orchest validate {pipeline}")
    click.echo(f"a project:    orchest projects add {folder}")


@click.command()
@stack_options
@click.argument("pipeline_file", type=click.Path(dir_okay=False, path_type=Path))
def validate(state_dir: Path | None, url: str | None, pipeline_file: Path) -> None:
    """List every problem of a pipeline file; exit 0 when it has none.

    Offline: the JSON and the pipeline's shape, as the API checks them. When a
    stack answers and the file is in one of its projects: everything a run
    would be refused for (connections, cycles, step files), as the API lists it."""
    from ..validation import validate_file

    problems, complete = validate_file(pipeline_file, base_url(state_dir, url))
    for where, what in problems:
        click.echo(f"{pipeline_file}: {where}: {what}" if where else f"{pipeline_file}: {what}")
    if problems:
        raise CliError(f"{pipeline_file}: {len(problems)} problem(s)")
    click.echo(f"{pipeline_file}: valid" + ("" if complete else f" ({complete_note()})"))


def complete_note() -> str:
    return (
        "JSON and shape checked; for connections, cycles and step files too,"
        " make its folder a project: orchest projects add FOLDER"
    )
