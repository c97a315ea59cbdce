"""A run followed live: each step's state, attempt and time (ticking while
it runs) in a table redrawn on a terminal, one line per state change
without one; with ``--logs``, each step's output interleaved, one prefix
per step, as ``docker compose up`` shows its services'."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from orchest_schemas.events import RunStatusChanged, StepStatusChanged
from orchest_schemas.runs import RunView
from orchest_schemas.status import RunStatus, StepStatus

from .output import styled
from .pipeline_file import StepName, titled

STYLE = {
    RunStatus.PENDING: "dim",
    RunStatus.STARTED: "yellow",
    RunStatus.SUCCESS: "green",
    RunStatus.FAILURE: "red",
    RunStatus.ABORTED: "magenta",
}
PREFIX_COLOURS = ("cyan", "yellow", "green", "magenta", "blue", "bright_red")


def status_text(status: str) -> str:
    return styled(status, {str(k): v for k, v in STYLE.items()})


@dataclass
class StepRow:
    name: StepName
    status: StepStatus = StepStatus.PENDING
    attempt: int = 0
    started: datetime | None = None
    finished: datetime | None = None
    error: str | None = None

    def elapsed(self, now: datetime) -> str:
        if self.started is None:
            return ""
        return f"{((self.finished or now) - self.started).total_seconds():.1f}s"


@dataclass
class RunProgress:
    """The state of a run as its events tell it; ``__rich__`` draws it anew at
    each refresh, so a running step's time ticks between events."""

    run: RunView
    steps: dict[str, StepRow] = field(default_factory=dict)
    status: RunStatus = RunStatus.PENDING

    def __post_init__(self) -> None:
        for step in self.run.pipeline_steps:
            name = StepName(step.step_uuid, step.title, step.file_path)
            self.steps[step.step_uuid] = StepRow(
                name, step.status, step.attempt, step.started_time, step.finished_time, step.error
            )
        self.status = self.run.status

    @property
    def names(self) -> list[StepName]:
        return [row.name for row in self.steps.values()]

    def apply(self, kind: str, data: str) -> str | None:
        """Take one event in; a line saying what changed, or None when nothing
        did (a replayed event)."""
        if kind == "run_status_changed":
            run_event = RunStatusChanged.model_validate_json(data)
            changed = run_event.status != self.status
            self.status = run_event.status
            return f"run {self.run.uuid}: {run_event.status}" if changed else None
        if kind != "step_status_changed":
            return None
        event = StepStatusChanged.model_validate_json(data)
        row = self.steps.get(event.step_uuid)
        if row is None or (row.status, row.attempt) == (event.status, event.attempt):
            return None
        row.status, row.attempt = event.status, event.attempt
        if row.status is StepStatus.STARTED:
            row.started, row.finished, row.error = event.occurred_at, None, None
        elif row.status.is_final:
            row.finished = event.occurred_at
            row.error = titled(event.error, self.names) if event.error else None
        line = f"{row.name}: {row.status}"
        if row.attempt > 1:
            line += f" (attempt {row.attempt})"
        if row.status.is_final and row.started is not None:
            line += f" in {row.elapsed(event.occurred_at)}"
        return line + (f": {row.error}" if row.error else "")

    def __rich__(self) -> Table:
        table = Table(title=f"run {self.run.uuid}  {status_text(self.status)}")
        table.add_column("step", overflow="fold")
        table.add_column("status", no_wrap=True)
        table.add_column("attempt", no_wrap=True)
        table.add_column("time", no_wrap=True, justify="right")
        table.add_column("error", overflow="fold")
        now = datetime.now().astimezone()
        for row in self.steps.values():
            table.add_row(
                escape(str(row.name)),
                status_text(row.status),
                str(row.attempt or ""),
                row.elapsed(now),
                escape(row.error or ""),
            )
        return table


class LogFollower:
    """Prints each started step's output, line by line, behind a prefix of
    its own colour (one thread per step, reading the step's log with
    ``follow=true`` until the step ends)."""

    def __init__(self, console: Console, open_log: Callable[[str], Any]) -> None:
        self._console = console
        self._open_log = open_log
        self._threads: dict[str, threading.Thread] = {}
        self._width = 0

    def start(self, progress: RunProgress) -> None:
        self._width = max((len(str(name)) for name in progress.names), default=0)
        for step_uuid, row in progress.steps.items():
            if row.status is not StepStatus.PENDING and step_uuid not in self._threads:
                self._follow(step_uuid, str(row.name), len(self._threads))

    def _follow(self, step_uuid: str, title: str, index: int) -> None:
        colour = PREFIX_COLOURS[index % len(PREFIX_COLOURS)]
        prefix = f"[{colour}]{escape(title.ljust(self._width))} |[/{colour}] "
        thread = threading.Thread(
            target=self._print, args=(step_uuid, prefix), name=f"log {title}", daemon=True
        )
        self._threads[step_uuid] = thread
        thread.start()

    def _print(self, step_uuid: str, prefix: str) -> None:
        import httpx

        try:
            with self._open_log(step_uuid) as response:
                for line in response.iter_lines():
                    self._console.print(prefix + escape(line), highlight=False)
        except (httpx.HTTPError, Exception) as exc:  # a log is a view: the run goes on
            self._console.print(prefix + f"[dim](log unavailable: {escape(str(exc))})[/dim]")

    def wait(self, timeout: float = 10.0) -> None:
        """Let the logs of ended steps be printed to their end."""
        for thread in self._threads.values():
            thread.join(timeout)
