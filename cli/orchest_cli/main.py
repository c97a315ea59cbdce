"""The ``orchest`` command."""

from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from . import assignments
from . import stack as stack_ops
from .statedir import DEFAULT_PORT, StateDir, default_state_dir, is_running

# rich, httpx and the schemas are imported where they are used: `orchest up`
# starts the supervisor first and pays for them while the stack comes up.

state_dir_option = click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the stack keeps its data and logs "
    "[default: $ORCHEST_STATE_DIR or ~/.local/share/orchest].",
)


url_option = click.option(
    "--url", default=None, help="Gateway URL [default: the stack's, else localhost:PORT]."
)


def _api_url(state_dir: Path | None, url: str | None) -> str:
    if url:
        return url.rstrip("/")
    recorded = _state(state_dir).read_stack() or {}
    return str(recorded.get("gateway_url") or f"http://127.0.0.1:{_default_port()}")


def _state(state_dir: Path | None) -> StateDir:
    return StateDir((state_dir or default_state_dir()).expanduser().resolve())


def _default_port() -> int:
    return int(os.environ.get("ORCHEST_PORT", DEFAULT_PORT))


@click.group()
@click.version_option(package_name="orchest-cli")
def cli() -> None:
    """Orchest: run data-science pipelines as interactive runs, partial runs and jobs."""


@cli.command()
@state_dir_option
@click.option(
    "--port", type=int, default=None, help=f"Port of the HTTP API [default: {DEFAULT_PORT}]."
)
@click.option(
    "--timeout", type=float, default=90.0, show_default=True, help="Seconds to wait for health."
)
@click.option(
    "--runners",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    envvar="ORCHEST_STEP_RUNNERS",
    help="Step-runner processes to start.",
)
def up(state_dir: Path | None, port: int | None, timeout: float, runners: int) -> None:
    """Start NATS, Postgres and the four services in the background; return when healthy."""
    state = _state(state_dir)
    port = port or _default_port()
    try:
        result = stack_ops.up(state, port, timeout, runners)
    except stack_ops.StackError as exc:
        click.secho(f"orchest up failed: {exc}", fg="red", err=True)
        sys.exit(1)
    url = result.stack.get("gateway_url", f"http://127.0.0.1:{port}")
    if result.already_running:
        click.echo(f"Already running on {state.root}")
    else:
        click.echo(f"Healthy in {result.seconds:.2f}s. State: {state.root}")
    show_health(url)
    click.echo(f"API: {url}/api   Stop with: orchest down --state-dir {state.root}")
    click.echo(f"Dashboard: {url}/")


@cli.command()
@state_dir_option
@click.option("--timeout", type=float, default=60.0, show_default=True)
def down(state_dir: Path | None, timeout: float) -> None:
    """Stop the stack of a state directory; leaves no process behind."""
    state = _state(state_dir)
    if not is_running(state) and not stack_ops.stack_pids(state):
        click.echo(f"Nothing runs on {state.root}")
        return
    killed = stack_ops.down(state, timeout)
    left = stack_ops.stack_pids(state)
    if left:
        click.secho(f"processes still alive: {left}", fg="red", err=True)
        sys.exit(1)
    note = f" (killed {len(killed)} stuck process(es))" if killed else ""
    click.echo(f"Stopped{note}.")


@cli.command()
@state_dir_option
@url_option
def status(state_dir: Path | None, url: str | None) -> None:
    """Show every service's live instances; exit 1 unless all are up."""
    if not show_health(_api_url(state_dir, url)):
        sys.exit(1)


@cli.command("stack-logs")
@state_dir_option
@click.argument("name")
@click.option("-n", "--lines", type=int, default=50, show_default=True)
def stack_logs(state_dir: Path | None, name: str, lines: int) -> None:
    """Print the end of a stack process's log (gateway, scheduler, nats, postgres...)."""
    path = _state(state_dir).log(name)
    if not path.exists():
        click.echo(f"no log at {path}", err=True)
        sys.exit(1)
    text = path.read_text(errors="replace").splitlines()[-lines:]
    click.echo("\n".join(text))


@cli.command()
@state_dir_option
@url_option
@click.argument("pipeline", metavar="PIPELINE_FILE | PROJECT/PIPELINE_PATH")
@click.option(
    "--project-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="The project [default: the pipeline file's folder].",
)
@click.option(
    "--type",
    "run_type",
    type=click.Choice(["full", "selection", "incoming", "selection_with_ancestors", "downstream"]),
    default=None,
    help="Which steps run [default: full, or selection when --step is given].",
)
@click.option("--step", "steps", multiple=True, help="A selected step (uuid or title); repeat.")
@click.option(
    "--env",
    "env",
    multiple=True,
    callback=assignments.env_variables,
    metavar="KEY=VALUE",
    help="An env variable for every step; repeat.",
)
@click.option(
    "--param",
    "params",
    multiple=True,
    callback=assignments.pipeline_parameters,
    metavar="NAME=VALUE",
    help="A pipeline parameter over the file's (VALUE as JSON when it is JSON); repeat.",
)
@click.option(
    "--embedded",
    is_flag=True,
    help="Start a stack for this run (unless one runs on the state dir) and stop it after.",
)
def run(
    state_dir: Path | None,
    url: str | None,
    pipeline: str,
    project_dir: Path | None,
    run_type: str | None,
    steps: tuple[str, ...],
    env: dict[str, str],
    params: dict[str, Any],
    embedded: bool,
) -> None:
    """Run a pipeline and show each step's state live; exit 0 only on SUCCESS.

    PIPELINE_FILE is a pipeline file (sent as it is now); PROJECT/PIPELINE_PATH
    names a project's pipeline (PROJECT: name, uuid or uuid prefix), read by
    the stack when the run starts."""
    from .runs import run_pipeline, run_project_pipeline

    run_type = run_type or ("selection" if steps else "full")
    pipeline_file = Path(pipeline)
    by_reference = not pipeline_file.is_file()
    if by_reference and (project_dir is not None or params):
        raise click.UsageError(
            "--project-dir and --param go with a pipeline file, not a project's pipeline"
        )
    started_here = False
    state = _state(state_dir)
    if embedded and not is_running(state):
        try:
            result = stack_ops.up(state, _default_port())
        except stack_ops.StackError as exc:
            raise click.ClickException(f"orchest up failed: {exc}") from exc
        started_here = True
        click.echo(f"Stack up in {result.seconds:.2f}s ({state.root})")
    try:
        base_url = _api_url(state_dir, url)
        if by_reference:
            code = run_project_pipeline(base_url, pipeline, run_type, steps, env)
        else:
            code = run_pipeline(base_url, pipeline_file, project_dir, run_type, steps, env, params)
    finally:
        if started_here:
            stack_ops.down(state)
    sys.exit(code)


@cli.command()
@state_dir_option
@url_option
@click.option("--pipeline", "pipeline_uuid", default=None, help="Only this pipeline's runs.")
@click.option("--status", default=None, help="Only runs in this status.")
@click.option("-n", "--limit", type=int, default=20, show_default=True)
def runs(
    state_dir: Path | None,
    url: str | None,
    pipeline_uuid: str | None,
    status: str | None,
    limit: int,
) -> None:
    """List runs, newest first."""
    from .runs import print_runs

    params = {"limit": str(limit)}
    if pipeline_uuid:
        params["pipeline_uuid"] = pipeline_uuid
    if status:
        params["status"] = status
    print_runs(_api_url(state_dir, url), params)


@cli.command()
@state_dir_option
@url_option
@click.argument("run_uuid")
@click.argument("step")
@click.option("-f", "--follow", is_flag=True, help="Stream until the step ends.")
def logs(state_dir: Path | None, url: str | None, run_uuid: str, step: str, follow: bool) -> None:
    """Print a step's output (STEP: uuid or title)."""
    from .runs import print_logs

    print_logs(_api_url(state_dir, url), run_uuid, step, follow)


@cli.command()
@state_dir_option
@url_option
@click.argument("run_uuid")
def abort(state_dir: Path | None, url: str | None, run_uuid: str) -> None:
    """Abort a run: running steps are killed, the rest ABORTED."""
    from .runs import abort_run

    click.echo(f"run {run_uuid}: {abort_run(_api_url(state_dir, url), run_uuid)}")


@cli.group()
def jobs() -> None:
    """Jobs: a pipeline run once per parameter set, now, at a time or on a cron schedule."""


@jobs.command("list")
@state_dir_option
@url_option
@click.option("--status", default=None, help="Only jobs in this status.")
@click.option("--pipeline", "pipeline_uuid", default=None, help="Only this pipeline's jobs.")
@click.option("-n", "--limit", type=int, default=20, show_default=True)
def jobs_list(
    state_dir: Path | None,
    url: str | None,
    status: str | None,
    pipeline_uuid: str | None,
    limit: int,
) -> None:
    """List jobs, newest first, with their runs per status."""
    from .jobs import print_jobs

    params = {"limit": str(limit)}
    if status:
        params["status"] = status
    if pipeline_uuid:
        params["pipeline_uuid"] = pipeline_uuid
    print_jobs(_api_url(state_dir, url), params)


@jobs.command("show")
@state_dir_option
@url_option
@click.argument("job_uuid")
def jobs_show(state_dir: Path | None, url: str | None, job_uuid: str) -> None:
    """Show a job: its schedule, parameter sets and runs per status."""
    from .jobs import show_job

    show_job(_api_url(state_dir, url), job_uuid)


def _iso_time(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """An ISO 8601 time; one without a zone is local time."""
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time") from None
    return at if at.tzinfo is not None else at.astimezone()


@jobs.command("create")
@state_dir_option
@url_option
@click.argument("pipeline_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", required=True, help="The job's name.")
@click.option(
    "--project-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="The project [default: the pipeline file's folder].",
)
@click.option(
    "--param-grid",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="JSON: a list of parameter sets, or {key: {name: [values...]}} for every combination.",
)
@click.option("--cron", default=None, help="Run on this cron schedule (e.g. '0 3 * * *').")
@click.option("--at", callback=_iso_time, default=None, help="Run once at this ISO 8601 time.")
@click.option(
    "--max-retained",
    type=click.IntRange(min=-1),
    default=None,
    help="Runs to keep; older ones are deleted [default: all].",
)
@click.option(
    "--max-parallel",
    type=click.IntRange(min=1),
    default=None,
    help="Runs of this job at once [default: the scheduler's].",
)
@click.option("--draft", is_flag=True, help="Create it as a draft: nothing runs until confirmed.")
@click.option(
    "--env",
    "env",
    multiple=True,
    callback=assignments.env_variables,
    metavar="KEY=VALUE",
    help="An env variable for every step; repeat.",
)
@click.option(
    "--param",
    "params",
    multiple=True,
    callback=assignments.pipeline_parameters,
    metavar="NAME=VALUE",
    help="A pipeline parameter over the file's (VALUE as JSON when it is JSON); repeat.",
)
def jobs_create(
    state_dir: Path | None,
    url: str | None,
    pipeline_file: Path,
    name: str,
    project_dir: Path | None,
    param_grid: Path | None,
    cron: str | None,
    at: datetime | None,
    max_retained: int | None,
    max_parallel: int | None,
    draft: bool,
    env: dict[str, str],
    params: dict[str, Any],
) -> None:
    """Create a job from a pipeline file; without --cron or --at it runs now."""
    from .jobs import create_job, job_line, load_param_grid

    if cron is not None and at is not None:
        raise click.UsageError("give --cron or --at, not both")
    job = create_job(
        _api_url(state_dir, url),
        pipeline_file,
        name=name,
        project_dir=project_dir,
        parameters=load_param_grid(param_grid) if param_grid else None,
        cron=cron,
        at=at,
        max_retained=max_retained,
        max_parallel=max_parallel,
        draft=draft,
        env=env,
        pipeline_parameters=params,
    )
    click.echo(f"{job_line(job)} ({len(job['parameters'])} parameter set(s))")


@jobs.command("runs")
@state_dir_option
@url_option
@click.argument("job_uuid")
@click.option("--status", default=None, help="Only runs in this status.")
@click.option("-n", "--limit", type=int, default=20, show_default=True)
def jobs_runs(
    state_dir: Path | None, url: str | None, job_uuid: str, status: str | None, limit: int
) -> None:
    """List a job's runs, the latest execution first."""
    from .jobs import print_job_runs

    params = {"limit": str(limit)}
    if status:
        params["status"] = status
    print_job_runs(_api_url(state_dir, url), job_uuid, params)


@jobs.command("pause")
@state_dir_option
@url_option
@click.argument("job_uuid")
def jobs_pause(state_dir: Path | None, url: str | None, job_uuid: str) -> None:
    """Pause a job: no new execution; its queued runs wait."""
    from .jobs import job_line, update_job

    click.echo(job_line(update_job(_api_url(state_dir, url), job_uuid, {"paused": True})))


@jobs.command("resume")
@state_dir_option
@url_option
@click.argument("job_uuid")
def jobs_resume(state_dir: Path | None, url: str | None, job_uuid: str) -> None:
    """Resume a paused job."""
    from .jobs import job_line, update_job

    click.echo(job_line(update_job(_api_url(state_dir, url), job_uuid, {"paused": False})))


@jobs.command("confirm")
@state_dir_option
@url_option
@click.argument("job_uuid")
def jobs_confirm(state_dir: Path | None, url: str | None, job_uuid: str) -> None:
    """Confirm a draft: its schedule starts (it runs now if it has none)."""
    from .jobs import job_line, update_job

    click.echo(job_line(update_job(_api_url(state_dir, url), job_uuid, {"confirm_draft": True})))


@jobs.command("trigger")
@state_dir_option
@url_option
@click.argument("job_uuid")
def jobs_trigger(state_dir: Path | None, url: str | None, job_uuid: str) -> None:
    """Run one execution of a job now, whatever its schedule."""
    from .jobs import job_line, trigger_job

    click.echo(job_line(trigger_job(_api_url(state_dir, url), job_uuid)))


@jobs.command("cancel")
@state_dir_option
@url_option
@click.argument("job_uuid")
@click.option("--run", "run_uuid", default=None, help="Abort only this run of the job.")
def jobs_cancel(
    state_dir: Path | None, url: str | None, job_uuid: str, run_uuid: str | None
) -> None:
    """Cancel a job (its live runs aborted), or with --run abort one of its runs."""
    from .jobs import abort_job_run, cancel_job, job_line

    base_url = _api_url(state_dir, url)
    if run_uuid is not None:
        run = abort_job_run(base_url, job_uuid, run_uuid)
        click.echo(f"run {run['uuid']}: {run['status']}")
    else:
        click.echo(job_line(cancel_job(base_url, job_uuid)))


@cli.group()
def sessions() -> None:
    """Interactive sessions: a pipeline's Jupyter server and kernel gateway."""


@sessions.command("list")
@state_dir_option
@url_option
@click.option("--project", "project_uuid", default=None, help="Only this project's sessions.")
@click.option("--all", "everything", is_flag=True, help="Ended sessions too.")
@click.option("-n", "--limit", type=int, default=20, show_default=True)
def sessions_list(
    state_dir: Path | None, url: str | None, project_uuid: str | None, everything: bool, limit: int
) -> None:
    """List live sessions, newest first (with --all, ended ones too)."""
    from .sessions import print_sessions

    params = {"limit": str(limit)}
    if project_uuid:
        params["project_uuid"] = project_uuid
    if not everything:
        params["live"] = "true"
    print_sessions(_api_url(state_dir, url), params)


@sessions.command("show")
@state_dir_option
@url_option
@click.argument("project_uuid")
@click.argument("pipeline_uuid")
def sessions_show(
    state_dir: Path | None, url: str | None, project_uuid: str, pipeline_uuid: str
) -> None:
    """Show a pipeline's session.

    Its live one, else its last: status, reason, Jupyter link with its token,
    kernel gateway, what runs for it."""
    from .sessions import show_session

    show_session(_api_url(state_dir, url), project_uuid, pipeline_uuid)


wait_option = click.option(
    "--wait", is_flag=True, help="Follow the session until it is done; exit 1 if it fails."
)


def _settle(base_url: str, session: dict[str, Any], goal: str | None) -> None:
    """Print the session; with a goal, wait for it first and exit 1 unless it
    was reached (Ctrl-C stops waiting, not the session: exit 130)."""
    from .sessions import jupyter_link, session_line, wait_for

    click.echo(session_line(session))
    if goal is None:
        return
    try:
        session = wait_for(base_url, session, goal)
    except KeyboardInterrupt:
        click.echo("stopped waiting; the session goes on", err=True)
        sys.exit(130)
    click.echo(session_line(session))
    link = jupyter_link(session)
    if session["status"] == "RUNNING" and link:
        click.echo(f"Jupyter: {link}")
    if session["status"] != goal:
        sys.exit(1)


@sessions.command("launch")
@state_dir_option
@url_option
@click.argument("pipeline_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--project-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="The project [default: the pipeline file's folder].",
)
@click.option(
    "--project-uuid",
    default=None,
    help="The project's uuid [default: one derived from the project folder's path].",
)
@click.option(
    "--runtime",
    type=click.Choice(["process", "docker"]),
    default=None,
    help="What runs the session [default: the session manager's].",
)
@wait_option
def sessions_launch(
    state_dir: Path | None,
    url: str | None,
    pipeline_file: Path,
    project_dir: Path | None,
    project_uuid: str | None,
    runtime: str | None,
    wait: bool,
) -> None:
    """Launch a pipeline's session.

    With --wait, follow it until it runs (then print its Jupyter link) or fails."""
    from .sessions import launch_body, launch_session

    base_url = _api_url(state_dir, url)
    body = launch_body(pipeline_file, project_dir, project_uuid, runtime)
    _settle(base_url, launch_session(base_url, body), "RUNNING" if wait else None)


@sessions.command("stop")
@state_dir_option
@url_option
@click.argument("project_uuid")
@click.argument("pipeline_uuid")
@wait_option
def sessions_stop(
    state_dir: Path | None, url: str | None, project_uuid: str, pipeline_uuid: str, wait: bool
) -> None:
    """Stop a pipeline's session.

    With --wait, follow it until it is STOPPED (nothing of it left running)."""
    from .sessions import stop_session

    base_url = _api_url(state_dir, url)
    session = stop_session(base_url, project_uuid, pipeline_uuid)
    _settle(base_url, session, "STOPPED" if wait else None)


@sessions.command("restart")
@state_dir_option
@url_option
@click.argument("project_uuid")
@click.argument("pipeline_uuid")
@wait_option
def sessions_restart(
    state_dir: Path | None, url: str | None, project_uuid: str, pipeline_uuid: str, wait: bool
) -> None:
    """Restart a running session.

    With --wait, follow it until it runs again (then print its Jupyter link) or fails."""
    from .sessions import restart_session

    base_url = _api_url(state_dir, url)
    session = restart_session(base_url, project_uuid, pipeline_uuid)
    _settle(base_url, session, "RUNNING" if wait else None)


def show_health(url: str) -> bool:
    from .display import show_health as show

    return show(url)


@cli.group()
def projects() -> None:
    """Projects: folders of pipelines, in the projects directory or registered
    where they are (see docs/projects.md). PROJECT: a name, uuid or uuid prefix."""


@projects.command("list")
@state_dir_option
@url_option
def projects_list(state_dir: Path | None, url: str | None) -> None:
    """Every project."""
    from rich.console import Console

    from .projects import list_projects, project_table

    Console().print(project_table(list_projects(_api_url(state_dir, url))))


@projects.command("create")
@state_dir_option
@url_option
@click.argument("name")
@click.option("--template", type=click.Choice(["quickstart"]), default=None)
def projects_create(
    state_dir: Path | None, url: str | None, name: str, template: str | None
) -> None:
    """Create a project folder NAME in the projects directory (empty, or from a template)."""
    from .projects import create_project, echo_project

    echo_project(create_project(_api_url(state_dir, url), name, None, template))


@projects.command("add")
@state_dir_option
@url_option
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--name", default=None, help="The project's name [default: the folder's].")
def projects_add(state_dir: Path | None, url: str | None, path: Path, name: str | None) -> None:
    """Register an existing folder as a project, where it is (nothing is written in it)."""
    from .projects import create_project, echo_project

    project = create_project(_api_url(state_dir, url), name or path.resolve().name, path, None)
    echo_project(project)


@projects.command("show")
@state_dir_option
@url_option
@click.argument("project")
def projects_show(state_dir: Path | None, url: str | None, project: str) -> None:
    """A project and its pipelines."""
    from .projects import echo_project, find_project, list_pipelines, print_pipelines

    base_url = _api_url(state_dir, url)
    found = find_project(base_url, project)
    echo_project(found)
    for key, value in sorted(found["env_variables"].items()):
        click.echo(f"  {key}={value}")
    print_pipelines(list_pipelines(base_url, found))


@projects.command("rm")
@state_dir_option
@url_option
@click.argument("project")
@click.option("--delete-files", is_flag=True, help="Delete the project's folder too.")
def projects_rm(state_dir: Path | None, url: str | None, project: str, delete_files: bool) -> None:
    """Unregister a project (with --delete-files, delete its folder too)."""
    from .projects import find_project, remove_project

    base_url = _api_url(state_dir, url)
    found = find_project(base_url, project)
    remove_project(base_url, found, delete_files)
    click.echo(f"project {found['name']} removed" + (" with its files" if delete_files else ""))


@cli.group()
def pipelines() -> None:
    """A project's pipeline files."""


@pipelines.command("list")
@state_dir_option
@url_option
@click.argument("project")
def pipelines_list(state_dir: Path | None, url: str | None, project: str) -> None:
    """The pipelines of PROJECT (name, uuid or uuid prefix), each checked."""
    from .projects import find_project, list_pipelines, print_pipelines

    base_url = _api_url(state_dir, url)
    print_pipelines(list_pipelines(base_url, find_project(base_url, project)))


def main(argv: list[str] | None = None) -> Any:
    return cli.main(args=argv, prog_name="orchest")
