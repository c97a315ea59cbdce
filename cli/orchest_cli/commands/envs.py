"""``orchest envs``: a project's environments and their builds
(``docs/environments.md``). PROJECT: a name, uuid or uuid prefix; ENV: an
environment's name, uuid or uuid prefix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..assignments import env_variables
from ..output import emit, output_option, wide_option
from .common import base_url, stack_options


@click.group()
def envs() -> None:
    """Environments: what steps and kernels run in, built from a base and a
    setup script (see docs/environments.md)."""


@envs.command("list")
@stack_options
@click.argument("project")
@output_option
@wide_option
def envs_list(
    state_dir: Path | None, url: str | None, project: str, output: str, wide: bool
) -> None:
    """The project's environments, each with its latest build's state."""
    from ..api import Api
    from ..environments import list_environments, print_environments
    from ..projects import find_project

    with Api(base_url(state_dir, url)) as api:
        found = list_environments(api, find_project(api, project))
    emit(found, output) if output != "table" else print_environments(found, wide=wide)


@envs.command("create")
@stack_options
@click.argument("project")
@click.argument("name")
@click.option(
    "--language", type=click.Choice(["python", "r", "julia", "javascript"]), default="python"
)
@click.option("--base-image", default=None, help="[default: orchest/base-kernel-py]")
@click.option(
    "--setup-script",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A file whose content is the setup script.",
)
@click.option("--env", "env", multiple=True, callback=env_variables, help="KEY=VALUE, repeatable.")
@click.option("--wait", is_flag=True, help="Wait for its first build to end.")
def envs_create(
    state_dir: Path | None,
    url: str | None,
    project: str,
    name: str,
    language: str,
    base_image: str | None,
    setup_script: Path | None,
    env: dict[str, str],
    wait: bool,
) -> None:
    """Create an environment NAME (its files in the project) and build it."""
    from ..api import Api
    from ..environments import create_environment, follow_build
    from ..projects import find_project

    body: dict[str, Any] = {"name": name, "language": language, "env_variables": env}
    if base_image is not None:
        body["base_image"] = base_image
    if setup_script is not None:
        body["setup_script"] = setup_script.read_text()
    with Api(base_url(state_dir, url)) as api:
        found = find_project(api, project)
        made = create_environment(api, found, body)
        click.echo(f"environment {made.name} ({made.uuid})")
        if made.latest_build is not None:
            follow_build(api, found, made.latest_build, wait)


@envs.command("build")
@stack_options
@click.argument("project")
@click.argument("env")
@click.option("--wait", is_flag=True, help="Wait for the build to end (exit 1 unless SUCCESS).")
def envs_build(state_dir: Path | None, url: str | None, project: str, env: str, wait: bool) -> None:
    """Build ENV again, as its files now say."""
    from ..api import Api
    from ..environments import find_environment, follow_build, start_build
    from ..projects import find_project

    with Api(base_url(state_dir, url)) as api:
        found = find_project(api, project)
        build = start_build(api, find_environment(api, found, env), found)
        follow_build(api, found, build, wait)


@envs.command("logs")
@stack_options
@click.argument("project")
@click.argument("env")
@click.argument("build", required=False)
@click.option("-f", "--follow", is_flag=True, help="Stream until the build ends.")
def envs_logs(
    state_dir: Path | None,
    url: str | None,
    project: str,
    env: str,
    build: str | None,
    follow: bool,
) -> None:
    """A build's log (BUILD: a uuid prefix; default: the latest build)."""
    from ..api import Api
    from ..environments import find_build, find_environment, latest_build, print_log
    from ..projects import find_project

    with Api(base_url(state_dir, url)) as api:
        found = find_project(api, project)
        environment = find_environment(api, found, env)
        chosen = (
            find_build(api, found, environment, build)
            if build is not None
            else latest_build(api, found, environment)
        )
        print_log(api, found, chosen, follow)


@envs.command("rm")
@stack_options
@click.argument("project")
@click.argument("env")
def envs_rm(state_dir: Path | None, url: str | None, project: str, env: str) -> None:
    """Delete ENV's files (refused while a run, a job or a session uses it)."""
    from ..api import Api
    from ..environments import find_environment, remove_environment
    from ..projects import find_project

    with Api(base_url(state_dir, url)) as api:
        found = find_project(api, project)
        environment = find_environment(api, found, env)
        remove_environment(api, found, environment)
    click.echo(f"environment {environment.name} ({environment.uuid}) deleted")
