"""``orchest sessions``: a pipeline's Jupyter server and kernel gateway.
SESSION: the pipeline's file, PROJECT/PIPELINE_PATH, or the project's uuid
and the pipeline's."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..output import emit, output_option, wide_option
from .common import base_url, limit_option, project_dir_option, query, stack_options

if TYPE_CHECKING:
    from orchest_schemas.sessions import SessionView

session_argument = click.argument("session", nargs=-1, required=True, metavar="SESSION")
wait_option = click.option(
    "--wait", is_flag=True, help="Follow the session until it is done; exit 1 if it fails."
)


@click.group()
def sessions() -> None:
    """Interactive sessions: a pipeline's Jupyter server and kernel gateway.
    SESSION: the pipeline's file, PROJECT/PIPELINE_PATH, or PROJECT_UUID PIPELINE_UUID."""


@sessions.command("list")
@stack_options
@click.option("--project", "project_uuid", default=None, help="Only this project's sessions.")
@click.option("--all", "everything", is_flag=True, help="Ended sessions too.")
@limit_option
@output_option
@wide_option
def sessions_list(
    state_dir: Path | None,
    url: str | None,
    project_uuid: str | None,
    everything: bool,
    limit: int,
    output: str,
    wide: bool,
) -> None:
    """List live sessions, newest first (with --all, ended ones too)."""
    from orchest_schemas.sessions import SessionList

    from .. import sessions as ops
    from ..api import Api

    params = query(limit, project_uuid=project_uuid, live=None if everything else "true")
    with Api(base_url(state_dir, url)) as api:
        page = api.get("/api/sessions", SessionList, params=params)
    emit(page, output) if output != "table" else ops.print_sessions(page, wide=wide)


@sessions.command("show")
@stack_options
@session_argument
@project_dir_option
@click.option("--show-token", is_flag=True, help="Print the Jupyter link with its token.")
@output_option
def sessions_show(
    state_dir: Path | None,
    url: str | None,
    session: tuple[str, ...],
    project_dir: Path | None,
    show_token: bool,
    output: str,
) -> None:
    """Show a pipeline's session: its live one, else its last (status, reason,
    Jupyter link, kernel gateway, what runs for it); its tokens only when asked."""
    from .. import sessions as ops
    from ..api import Api

    with Api(base_url(state_dir, url)) as api:
        found = ops.get_session(api, ops.session_key(api, session, project_dir))
    if output != "table":
        emit(found if show_token else ops.without_tokens(found), output)
    else:
        ops.show_session(found, show_token=show_token)


def _settle(base: str, session: SessionView, goal: str | None) -> None:
    """Print the session; with a goal, wait for it first and exit 1 unless it
    was reached (Ctrl-C stops waiting, not the session: exit 130)."""
    from .. import sessions as ops

    click.echo(ops.session_line(session))
    if goal is None:
        return
    try:
        session = ops.wait_for(base, session, goal)
    except KeyboardInterrupt:
        click.echo("stopped waiting; the session goes on", err=True)
        raise SystemExit(130) from None
    click.echo(ops.session_line(session))
    link = ops.jupyter_link(session)
    if session.status == "RUNNING" and link:
        click.echo(f"Jupyter: {link}")
    if session.status != goal:
        raise SystemExit(1)


def _act(
    state_dir: Path | None,
    url: str | None,
    session: tuple[str, ...],
    project_dir: Path | None,
    action: str,
    goal: str | None,
) -> None:
    """Stop or restart the session named, then settle it (see ``_settle``)."""
    from .. import sessions as ops
    from ..api import Api

    base = base_url(state_dir, url)
    with Api(base) as api:
        key = ops.session_key(api, session, project_dir)
        changed = (ops.stop_session if action == "stop" else ops.restart_session)(api, key)
    _settle(base, changed, goal)


@sessions.command("launch")
@stack_options
@click.argument("pipeline_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@project_dir_option
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
    from .. import sessions as ops
    from ..api import Api

    base = base_url(state_dir, url)
    body = ops.launch_body(pipeline_file, project_dir, project_uuid, runtime)
    with Api(base) as api:
        session = ops.launch_session(api, body)
    _settle(base, session, "RUNNING" if wait else None)


def _action_command(action: str, goal: str, help_text: str) -> None:
    """``orchest sessions <action>``: the action on the session named, then
    with --wait, follow it to ``goal`` (see ``_act``)."""

    @sessions.command(action, help=help_text)
    @stack_options
    @session_argument
    @project_dir_option
    @wait_option
    def command(
        state_dir: Path | None,
        url: str | None,
        session: tuple[str, ...],
        project_dir: Path | None,
        wait: bool,
    ) -> None:
        _act(state_dir, url, session, project_dir, action, goal if wait else None)


_action_command(
    "stop",
    "STOPPED",
    """Stop a pipeline's session.

    With --wait, follow it until it is STOPPED (nothing of it left running).""",
)
_action_command(
    "restart",
    "RUNNING",
    """Restart a running session.

    With --wait, follow it until it runs again (then print its Jupyter link) or fails.""",
)
