"""The CLI's one error path: every failure is a ``CliError``, printed as one
or two lines (what was wrong, what to do) with exit code 1; usage errors are
click's (exit 2). ``describe`` turns what escaped a command (a lost
connection, an unexpected exception) into one; ``orchest --debug`` shows
the traceback instead."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    import httpx


class CliError(click.ClickException):
    """The root error of the CLI: its message is all the user sees."""

    def show(self, file: Any = None) -> None:
        click.secho(f"error: {self.format_message()}", fg="red", err=True)


def no_stack(url: str) -> CliError:
    return CliError(
        f"no stack answers at {url}: start one with `orchest up`"
        " (or name it with --url or ORCHEST_URL)"
    )


def api_error(response: httpx.Response) -> CliError:
    """The API's error body (``ErrorBody``: a message and every problem) as lines."""
    from pydantic import ValidationError

    from orchest_schemas.errors import ErrorBody

    try:
        body = ErrorBody.model_validate_json(response.read())
    except (ValidationError, ValueError):
        return CliError(f"HTTP {response.status_code}: {response.text[:500]}")
    lines = [body.message]
    for problem in body.errors:
        where = ".".join(str(part) for part in problem.loc)
        lines.append(f"  - {where}: {problem.msg}" if where else f"  - {problem.msg}")
    return CliError("\n".join(lines))


def describe(exc: BaseException) -> CliError | None:
    """A ``CliError`` for what escaped a command, or None for what is a bug."""
    import httpx

    if isinstance(exc, httpx.HTTPError):
        try:
            url = str(exc.request.url.copy_with(path="/", query=None)).rstrip("/")
        except RuntimeError:
            url = "the stack"
        if isinstance(exc, httpx.ConnectError):
            return no_stack(url)
        if isinstance(exc, httpx.TimeoutException):
            return CliError(f"the stack at {url} did not answer in time; try again")
        if isinstance(exc, httpx.HTTPStatusError):
            return api_error(exc.response)
        return CliError(f"lost the stack at {url} ({type(exc).__name__}); try again")
    if isinstance(exc, OSError) and exc.filename:
        return CliError(f"{exc.filename}: {exc.strerror}")
    return None
