"""The ``orchest`` command: the root group, and the one error path every
command's failure goes through (see ``errors``)."""

from __future__ import annotations

from typing import Any

import click

from .commands.envs import envs
from .commands.jobs import jobs
from .commands.projects import init, pipelines, projects, validate
from .commands.runs import abort, artifacts, logs, run, runs
from .commands.sessions import sessions
from .commands.stack import down, images, stack_logs, status, up
from .errors import CliError, describe


class OrchestGroup(click.Group):
    """Turns whatever escapes a command into a ``CliError`` (one or two lines,
    exit 1); ``--debug`` lets it through, with its traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except (SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            raise (
                describe(exc)
                or CliError(
                    f"unexpected {type(exc).__name__}: {exc} (`orchest --debug ...` tells where)"
                )
            ) from None


@click.group(cls=OrchestGroup)
@click.version_option(package_name="orchest-cli")
@click.option("--debug", is_flag=True, envvar="ORCHEST_DEBUG", help="Show tracebacks.")
def cli(debug: bool) -> None:
    """Orchest: run data-science pipelines as interactive runs, partial runs and jobs.

    Commands find the stack `orchest up` started; --url or ORCHEST_URL name another."""


for command in (
    up, down, status, stack_logs, images,
    run, runs, logs, abort, artifacts,
    jobs, sessions, projects, pipelines, init, validate, envs,
):  # fmt: skip
    cli.add_command(command)


def main(argv: list[str] | None = None) -> Any:
    return cli.main(args=argv, prog_name="orchest")
