"""Options every command that talks to a stack shares."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from .. import assignments
from ..context import api_url

F = TypeVar("F", bound=Callable[..., Any])

state_dir_option = click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the stack keeps its data and logs [default: $ORCHEST_STATE_DIR,"
    " else the one `orchest up` started, else ~/.local/share/orchest].",
)
url_option = click.option(
    "--url",
    default=None,
    help="The API [default: $ORCHEST_URL, else the state dir's stack, else 127.0.0.1:PORT].",
)


def stack_options(command: F) -> F:
    """``--state-dir`` and ``--url`` (``base_url`` makes the API's URL of them)."""
    return state_dir_option(url_option(command))


def base_url(state_dir: Path | None, url: str | None) -> str:
    return api_url(state_dir, url)


env_option = click.option(
    "--env",
    "env",
    multiple=True,
    callback=assignments.env_variables,
    metavar="KEY=VALUE",
    help="An env variable for every step; repeat.",
)
param_option = click.option(
    "--param",
    "params",
    multiple=True,
    callback=assignments.pipeline_parameters,
    metavar="NAME=VALUE",
    help="A pipeline parameter over the file's (VALUE as JSON when it is JSON); repeat.",
)
project_dir_option = click.option(
    "--project-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="The project [default: the pipeline file's folder].",
)
limit_option = click.option(
    "-n", "--limit", type=click.IntRange(1, 500), default=20, show_default=True
)


def iso_time(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """An ISO 8601 time; one without a zone is local time, and is said so."""
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time") from None
    if at.tzinfo is not None:
        return at
    local = at.astimezone()
    click.echo(f"--at {value}: no zone given, taken as local time ({local:%Z, UTC%z})", err=True)
    return local


def query(limit: int, **filters: str | None) -> dict[str, str]:
    """A list's query: its page size and the filters that were given."""
    return {"limit": str(limit), **{k: v for k, v in filters.items() if v}}
