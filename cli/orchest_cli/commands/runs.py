"""``orchest run``, ``runs``, ``logs``, ``abort`` and ``artifacts``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .. import pipeline_names
from .. import stack as stack_ops
from ..context import default_port, state_of
from ..errors import CliError
from ..output import emit, output_option, wide_option
from ..statedir import is_running
from .common import (
    base_url,
    env_option,
    limit_option,
    param_option,
    project_dir_option,
    query,
    stack_options,
)

RUN_TYPES = ["full", "selection", "incoming", "selection_with_ancestors", "downstream"]


@click.command()
@stack_options
@click.argument("pipeline", metavar="PIPELINE_FILE | PROJECT/PIPELINE_PATH")
@project_dir_option
@click.option(
    "--type",
    "run_type",
    type=click.Choice(RUN_TYPES),
    default=None,
    help="Which steps run [default: full, or selection when --step is given].",
)
@click.option(
    "--step",
    "steps",
    multiple=True,
    help="A selected step: its title (any case), file path, uuid or uuid prefix; repeat.",
)
@env_option
@param_option
@click.option("--logs", "show_logs", is_flag=True, help="Show the steps' output as it comes.")
@click.option(
    "--embedded",
    is_flag=True,
    help="Start a stack for this run (unless one runs on the state dir) and stop it after.",
)
@click.option("--port", type=int, default=None, help="The port of the --embedded stack's API.")
def run(
    state_dir: Path | None,
    url: str | None,
    pipeline: str,
    project_dir: Path | None,
    run_type: str | None,
    steps: tuple[str, ...],
    env: dict[str, str],
    params: dict[str, Any],
    show_logs: bool,
    embedded: bool,
    port: int | None,
) -> None:
    """Run a pipeline and show each step's state live; exit 0 only on SUCCESS.

    PIPELINE_FILE is a pipeline file (sent as it is now); PROJECT/PIPELINE_PATH
    names a project's pipeline (PROJECT: name, uuid or uuid prefix), read by
    the stack when the run starts. Ctrl-C aborts the run."""
    from ..api import Api
    from ..runs import file_run_body, project_run_body, start_and_follow

    run_type = run_type or ("selection" if steps else "full")
    pipeline_file = Path(pipeline)
    by_reference = not pipeline_file.is_file()
    if by_reference and (project_dir is not None or params):
        raise click.UsageError(
            "--project-dir and --param go with a pipeline file, not a project's pipeline"
        )
    body = None
    if not by_reference:  # a bad file is said before any stack starts
        body = file_run_body(pipeline_file, project_dir, run_type, steps, env, params)
        pipeline_names.note(body["pipeline_definition"])
    started_here = False
    state = state_of(state_dir)
    if embedded and not is_running(state):
        try:
            result = stack_ops.up(state, port or default_port())
        except stack_ops.StackError as exc:
            raise CliError(f"orchest up failed: {exc}") from None
        started_here = True
        click.echo(f"Stack up in {result.seconds:.2f}s ({state.root})")
    try:
        target = url or (f"http://127.0.0.1:{port}" if port and not started_here else None)
        with Api(base_url(state_dir, target)) as api:
            if body is None:
                body = project_run_body(api, pipeline, run_type, steps, env)
            code = start_and_follow(api, body, show_logs=show_logs)
    finally:
        if started_here:
            stack_ops.down(state)
    raise SystemExit(code)


@click.command()
@stack_options
@click.option("--pipeline", "pipeline_uuid", default=None, help="Only this pipeline's runs.")
@click.option("--status", default=None, help="Only runs in this status.")
@limit_option
@output_option
@wide_option
def runs(
    state_dir: Path | None,
    url: str | None,
    pipeline_uuid: str | None,
    status: str | None,
    limit: int,
    output: str,
    wide: bool,
) -> None:
    """List runs, newest first, with their pipeline's name."""
    from orchest_schemas.runs import RunList

    from ..api import Api
    from ..runs import print_runs

    params = query(limit, pipeline_uuid=pipeline_uuid, status=status and status.upper())
    with Api(base_url(state_dir, url)) as api:
        page = api.get("/api/runs", RunList, params=params)
        if output != "table":
            emit(page, output)
        else:
            print_runs(api, page, wide=wide)


@click.command()
@stack_options
@click.argument("run_ref", metavar="RUN")
@click.argument("step")
@click.option("-f", "--follow", is_flag=True, help="Stream until the step ends.")
def logs(state_dir: Path | None, url: str | None, run_ref: str, step: str, follow: bool) -> None:
    """Print a step's output. RUN: uuid or uuid prefix; STEP: title (any case),
    file path, uuid or uuid prefix."""
    from ..api import Api
    from ..runs import find_run, print_logs

    with Api(base_url(state_dir, url), timeout=None) as api:
        print_logs(api, find_run(api, run_ref), step, follow)


@click.command()
@stack_options
@click.argument("run_ref", metavar="RUN")
def abort(state_dir: Path | None, url: str | None, run_ref: str) -> None:
    """Abort a run (RUN: uuid or uuid prefix): running steps are killed, the rest ABORTED."""
    from orchest_schemas.runs import RunView

    from ..api import Api
    from ..runs import find_run

    with Api(base_url(state_dir, url)) as api:
        found = find_run(api, run_ref)
        run = api.send("DELETE", f"/api/runs/{found.uuid}", RunView)
    click.echo(f"run {run.uuid}: {run.status}")


@click.command()
@stack_options
@click.argument("run_ref", metavar="RUN")
@click.argument("step")
@click.option("--name", default=None, help="Which artifact [default: the step's only one].")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write it [default: <step file>.<artifact> here].",
)
def artifacts(
    state_dir: Path | None,
    url: str | None,
    run_ref: str,
    step: str,
    name: str | None,
    out: Path | None,
) -> None:
    """Save a step's artifact: the executed notebook of a notebook step."""
    from ..api import Api
    from ..runs import find_run, save_artifact

    with Api(base_url(state_dir, url), timeout=None) as api:
        click.echo(f"wrote {save_artifact(api, find_run(api, run_ref), step, name, out)}")
