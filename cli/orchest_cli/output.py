"""What commands print: tables that fit the terminal, ``-o json|yaml`` for
scripts, and times in the local zone, named.

A table's columns shrink by priority: when the rows are wider than the
terminal, the columns of lowest priority are left out (the ones a person
needs, like a name and a status, stay), and no cell is cut with an ellipsis:
a long one folds onto more lines. ``--wide`` shows every column at its full
width, whatever the terminal's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import click

OUTPUTS = ("table", "json", "yaml")

output_option = click.option(
    "-o",
    "--output",
    type=click.Choice(OUTPUTS),
    default="table",
    show_default=True,
    help="table for people; json or yaml (the API's fields) for scripts.",
)
wide_option = click.option("--wide", is_flag=True, help="Every column, at full width.")


@dataclass(frozen=True)
class Column:
    header: str
    priority: int = 1
    """Columns of lower priority are left out first when the table is too wide;
    0: only with ``--wide``."""
    no_wrap: bool = False
    """Shown whole or not at all (a uuid)."""


def when(value: datetime | None, missing: str = "-") -> str:
    """A time in the local zone, with the zone's name: ``2026-01-31 09:00:00 CET``."""
    if value is None:
        return missing
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def emit(data: Any, output: str) -> None:
    """``data`` (models, lists or dicts of them) as JSON or YAML on stdout."""
    plain = _plain(data)
    if output == "yaml":
        import yaml  # type: ignore[import-untyped]

        click.echo(yaml.safe_dump(plain, sort_keys=False, allow_unicode=True), nl=False)
    else:
        click.echo(json.dumps(plain, indent=2, ensure_ascii=False))


def _plain(data: Any) -> Any:
    from pydantic import BaseModel

    if isinstance(data, BaseModel):
        return data.model_dump(mode="json")
    if isinstance(data, dict):
        return {key: _plain(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [_plain(item) for item in data]
    return data


def print_table(
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    *,
    title: str | None = None,
    wide: bool = False,
) -> None:
    """Rows of rich markup under ``columns``, fitted to the terminal."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    widths = [
        max([len(column.header), *(Text.from_markup(row[i]).cell_len for row in rows)])
        for i, column in enumerate(columns)
    ]
    keep = list(range(len(columns)))
    if wide:
        console = Console(width=max(console.width, sum(w + 3 for w in widths) + 1))
    else:
        keep = [i for i in keep if columns[i].priority > 0]
        while len(keep) > 1 and sum(widths[i] + 3 for i in keep) + 1 > console.width:
            lowest = min(columns[i].priority for i in keep)
            keep.remove(max(i for i in keep if columns[i].priority == lowest))
    table = Table(title=title)
    for i in keep:
        table.add_column(
            columns[i].header,
            no_wrap=wide or columns[i].no_wrap,
            min_width=widths[i] if columns[i].no_wrap else None,
            overflow="fold",
        )
    for row in rows:
        table.add_row(*(row[i] for i in keep))
    console.print(table)


def print_fields(title: str, rows: Sequence[tuple[str, str]]) -> None:
    """A two-column table of one object's fields (rich markup in the values)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_header=False)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    for field, value in rows:
        table.add_row(field, value)
    Console().print(table)


def styled(status: str, styles: dict[str, str]) -> str:
    style = styles.get(status, "")
    return f"[{style}]{status}[/{style}]" if style else status
