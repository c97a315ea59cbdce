"""The ``orchest`` command."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

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
@click.argument("pipeline_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
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
    "--embedded",
    is_flag=True,
    help="Start a stack for this run (unless one runs on the state dir) and stop it after.",
)
def run(
    state_dir: Path | None,
    url: str | None,
    pipeline_file: Path,
    project_dir: Path | None,
    run_type: str | None,
    steps: tuple[str, ...],
    embedded: bool,
) -> None:
    """Run a pipeline and show each step's state live; exit 0 only on SUCCESS."""
    from .runs import run_pipeline

    run_type = run_type or ("selection" if steps else "full")
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
        code = run_pipeline(_api_url(state_dir, url), pipeline_file, project_dir, run_type, steps)
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


def show_health(url: str) -> bool:
    from .display import show_health as show

    return show(url)


def main(argv: list[str] | None = None) -> Any:
    return cli.main(args=argv, prog_name="orchest")
