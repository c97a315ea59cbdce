"""``orchest up``, ``down``, ``status``, ``stack-logs`` and ``images build``:
the embedded stack and the images its Docker executor and runtime need."""

from __future__ import annotations

import subprocess
from pathlib import Path

import click

from .. import stack as stack_ops
from ..context import default_port, remember, state_of
from ..errors import CliError
from ..statedir import DEFAULT_PORT, is_running
from .common import base_url, stack_options, state_dir_option

# rich, httpx and the schemas are imported where they are used: `orchest up`
# starts the supervisor first and pays for them while the stack comes up.

REPO = Path(__file__).resolve().parents[3]
"""The repository the CLI runs from (for ``images build``)."""


@click.command()
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
@click.option(
    "--gateways",
    type=click.IntRange(1, 16),
    default=1,
    show_default=True,
    envvar="ORCHEST_GATEWAYS",
    help="Gateway processes sharing the port (SO_REUSEPORT), each with its own event feed.",
)
def up(
    state_dir: Path | None, port: int | None, timeout: float, runners: int, gateways: int
) -> None:
    """Start NATS, Postgres and the four services in the background; return when
    healthy. Later commands find this stack without --state-dir."""
    state = state_of(state_dir)
    port = port or default_port()
    try:
        result = stack_ops.up(state, port, timeout, runners, gateways)
    except stack_ops.StackError as exc:
        raise CliError(f"orchest up failed: {exc}") from None
    url = str(result.stack.get("gateway_url", f"http://127.0.0.1:{port}"))
    remember(state, url)
    if result.already_running:
        click.echo(f"Already running on {state.root}")
    else:
        click.echo(f"Healthy in {result.seconds:.2f}s. State: {state.root}")
    show_health(url)
    click.echo(f"API: {url}/api   Stop with: orchest down")
    click.echo(f"Dashboard: {url}/")


@click.command()
@state_dir_option
@click.option("--timeout", type=float, default=60.0, show_default=True)
def down(state_dir: Path | None, timeout: float) -> None:
    """Stop the stack of a state directory; leaves no process behind."""
    state = state_of(state_dir)
    if not is_running(state) and not stack_ops.stack_pids(state):
        click.echo(f"Nothing runs on {state.root}")
        return
    killed = stack_ops.down(state, timeout)
    left = stack_ops.stack_pids(state)
    if left:
        raise CliError(f"processes still alive: {left}")
    note = f" (killed {len(killed)} stuck process(es))" if killed else ""
    click.echo(f"Stopped{note}.")


@click.command()
@stack_options
def status(state_dir: Path | None, url: str | None) -> None:
    """Show every service's live instances; exit 1 unless all are up."""
    if not show_health(base_url(state_dir, url)):
        raise SystemExit(1)


def show_health(url: str) -> bool:
    from ..display import show_health as show

    return show(url)


@click.command("stack-logs")
@state_dir_option
@click.argument("name")
@click.option("-n", "--lines", type=int, default=50, show_default=True)
def stack_logs(state_dir: Path | None, name: str, lines: int) -> None:
    """Print the end of a stack process's log (gateway, scheduler, nats, postgres...)."""
    state = state_of(state_dir)
    path = state.log(name)
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in state.logs.glob("*.log"))) or "none yet"
        raise CliError(f"no log at {path} (logs: {known})")
    text = path.read_text(errors="replace").splitlines()[-lines:]
    click.echo("\n".join(text))


@click.group()
def images() -> None:
    """The Docker images of the docker executor, the docker session runtime and
    deploy/compose.yml."""


@images.command("build")
@click.option("--base", default=None, help="The base image [default: python:3.11-slim].")
@click.option("--deploy/--no-deploy", default=True, help="Also the images of deploy/compose.yml.")
def images_build(base: str | None, deploy: bool) -> None:
    """Build the images (each one built again only when its inputs changed),
    showing the builds' progress; prints the images made."""
    scripts = [REPO / "images" / "build.sh"] + ([REPO / "deploy" / "build.sh"] if deploy else [])
    for script in scripts:
        if not script.is_file():
            raise CliError(f"{script} is missing: `orchest images build` runs from a checkout")
        args = ["bash", str(script), *(["--base", base] if base else [])]
        click.echo(f"building with {script.relative_to(REPO)} (its progress below)", err=True)
        try:
            code = subprocess.call(args, cwd=REPO)
        except OSError as exc:
            raise CliError(f"could not run {script}: {exc.strerror}") from None
        if code != 0:
            raise CliError(f"{script.relative_to(REPO)} failed (exit {code}); see its output above")
