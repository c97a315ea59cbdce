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
def up(state_dir: Path | None, port: int | None, timeout: float) -> None:
    """Start NATS, Postgres and the four services in the background; return when healthy."""
    state = _state(state_dir)
    port = port or _default_port()
    try:
        result = stack_ops.up(state, port, timeout)
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
@click.option(
    "--url", default=None, help="Gateway URL [default: the stack's, else localhost:PORT]."
)
def status(state_dir: Path | None, url: str | None) -> None:
    """Show every service's live instances; exit 1 unless all are up."""
    if url is None:
        recorded = _state(state_dir).read_stack() or {}
        url = recorded.get("gateway_url") or f"http://127.0.0.1:{_default_port()}"
    if not show_health(url):
        sys.exit(1)


@cli.command()
@state_dir_option
@click.argument("name")
@click.option("-n", "--lines", type=int, default=50, show_default=True)
def logs(state_dir: Path | None, name: str, lines: int) -> None:
    """Print the end of a process's log (gateway, scheduler, nats, postgres, supervisor...)."""
    path = _state(state_dir).log(name)
    if not path.exists():
        click.echo(f"no log at {path}", err=True)
        sys.exit(1)
    text = path.read_text(errors="replace").splitlines()[-lines:]
    click.echo("\n".join(text))


def show_health(url: str) -> bool:
    from .display import show_health as show

    return show(url)


def main(argv: list[str] | None = None) -> Any:
    return cli.main(args=argv, prog_name="orchest")
