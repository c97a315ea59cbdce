"""The CLI's pure parts: where the stack is, steps named as people name
them, tables that fit, times with their zone, a running step's time ticking."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from rich.console import Console

from orchest_cli import context
from orchest_cli.errors import CliError
from orchest_cli.output import Column, print_table, when
from orchest_cli.pipeline_file import StepName, find_step, titled
from orchest_cli.progress import RunProgress
from orchest_cli.statedir import StateDir
from orchest_cli.supervisor import service_processes
from orchest_schemas.runs import RunView


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("ORCHEST_STATE_DIR", "ORCHEST_URL", "ORCHEST_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ORCHEST_CONFIG_DIR", str(tmp_path / "config"))
    return tmp_path


def test_the_stack_orchest_up_started_is_found_without_options(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = StateDir((config / "state").resolve())
    context.remember(state, "http://127.0.0.1:8123")
    assert context.state_of(None) == state
    assert context.api_url(None, None) == "http://127.0.0.1:8123"
    state.run.mkdir(parents=True)
    state.write_stack({"gateway_url": "http://127.0.0.1:8124"})
    assert context.api_url(None, None) == "http://127.0.0.1:8124"  # the live stack's
    other = config / "other"
    assert context.state_of(other).root == other.resolve()
    assert context.api_url(other, None) == "http://127.0.0.1:8000"
    monkeypatch.setenv("ORCHEST_URL", "http://remote:9000/")
    assert context.api_url(None, None) == "http://remote:9000"
    assert context.api_url(None, "http://given:1") == "http://given:1"
    monkeypatch.setenv("ORCHEST_STATE_DIR", str(other))
    assert context.state_of(None).root == other.resolve()
    assert json.loads(context.context_file().read_text())["state_dir"] == str(state.root)


STEPS = [
    StepName("3f2a9c1e-0000-4000-8000-000000000001", "Get data", "get-data.ipynb"),
    StepName("3f2a9c1e-0000-4000-8000-000000000002", "Clean", "clean.py"),
    StepName("7b7b7b7b-0000-4000-8000-000000000003", "clean", "clean-again.py"),
]


@pytest.mark.parametrize(
    ("name", "found"),
    [
        ("get data", 0),
        ("GET DATA", 0),
        ("Clean", 1),  # an exact title first
        ("clean.py", 1),
        ("./clean-again.py", 2),
        ("7b7b", 2),
        ("3f2a9c1e-0000-4000-8000-000000000002", 1),
    ],
)
def test_a_step_by_title_path_uuid_or_prefix(name: str, found: int) -> None:
    assert find_step(STEPS, name, "p") == STEPS[found]


def test_an_ambiguous_or_unknown_step_is_refused_with_the_candidates() -> None:
    with pytest.raises(CliError, match=r"'3f2a' names 2 steps of p: Get data \(3f2a"):
        find_step(STEPS, "3f2a", "p")
    with pytest.raises(CliError, match="its steps: Get data, Clean, clean"):
        find_step(STEPS, "Train", "p")
    assert titled(f"an ancestor failed: {STEPS[0].uuid}", STEPS) == (
        "an ancestor failed: 'Get data'"
    )


def table_lines(capsys: pytest.CaptureFixture[str], **kwargs: bool) -> list[str]:
    columns = [Column("uuid", 3, no_wrap=True), Column("status", 5), Column("note", 1)]
    rows = [["0a1b2c3d-0000-4000-8000-000000000001", "SUCCESS", "a long note " * 6]]
    print_table(columns, rows, title="1 of 1", **kwargs)
    return capsys.readouterr().out.splitlines()


def test_a_table_fits_the_terminal_by_leaving_low_priorities_out(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    lines = table_lines(capsys)
    text = "\n".join(lines)
    assert "0a1b2c3d-0000-4000-8000-000000000001" in text and "SUCCESS" in text
    assert "note" not in text and "…" not in text
    assert max(len(line) for line in lines) <= 60
    wide = table_lines(capsys, wide=True)
    assert any(("a long note " * 6).strip() in line for line in wide), wide
    assert max(len(line) for line in wide) > 60


def test_times_are_shown_in_the_local_zone_with_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        at = datetime(2026, 1, 31, 9, 0, tzinfo=timezone(timedelta(hours=1)))
        assert when(at) == "2026-01-31 08:00:00 UTC"
        assert when(None) == "-"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_a_running_steps_time_ticks_between_events() -> None:
    started = datetime.now().astimezone() - timedelta(seconds=42)
    run = RunView.model_validate(
        {
            "uuid": "r",
            "pipeline_uuid": "p",
            "run_type": "full",
            "status": "STARTED",
            "created_time": started,
            "pipeline_steps": [
                {
                    "run_uuid": "r",
                    "step_uuid": "s",
                    "title": "Train",
                    "file_path": "train.py",
                    "status": "STARTED",
                    "attempt": 1,
                    "started_time": started,
                }
            ],
        }
    )
    console = Console(width=100, record=True)
    console.print(RunProgress(run))  # what Live draws at each refresh, no event needed
    drawn = console.export_text()
    assert "Train" in drawn and "42." in drawn and "0.0s" not in drawn


def test_orchest_up_supervises_the_replicas_asked_for() -> None:
    assert service_processes(2, 3) == [
        ("gateway", "orchest_gateway"),
        ("gateway-2", "orchest_gateway"),
        ("gateway-3", "orchest_gateway"),
        ("scheduler", "orchest_scheduler"),
        ("step-runner", "orchest_step_runner"),
        ("step-runner-2", "orchest_step_runner"),
        ("session-manager", "orchest_session_manager"),
    ]
