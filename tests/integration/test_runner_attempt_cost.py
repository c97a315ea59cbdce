"""What the runner does around each attempt, outside the executor, stays on
its event loop and costs only what the attempt needs: its scratch folder is
made and removed there (no thread hop per attempt), the removal once its
report is on its way, a step that writes
nothing gets no log publisher, and its report's request is the model's JSON,
byte for byte, encoded by hand."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from test_process_executor import Project

from orchest_scheduler.definitions import DefinitionStore
from orchest_schemas.bus import BusNames
from orchest_schemas.commands import StepWork
from orchest_schemas.reports import ReportAnswer
from orchest_schemas.status import StepStatus
from orchest_service.broker import ensure_object_store, ensure_streams
from orchest_service.log_publisher import LogPublisher
from orchest_step_runner import scratch
from orchest_step_runner.attempts import Attempts
from orchest_step_runner.executor import ProcessExecutor
from orchest_step_runner.heartbeat import Running
from orchest_step_runner.settings import RunnerSettings

ATTEMPTS = 5


class CountingPool(concurrent.futures.ThreadPoolExecutor):
    """The loop's default executor, counting the work handed to its threads."""

    submitted = 0

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)


async def _attempts(
    nc: Client, bus: BusNames, settings: RunnerSettings, project: Project, work: StepWork
) -> tuple[Attempts, StepWork]:
    """An ``Attempts`` on this test's bus, and ``work`` with its definition stored."""
    js = nc.jetstream()
    await ensure_streams(js, bus.streams)
    key = await DefinitionStore(js, bus.definitions_bucket, 3600).put(work.definition)
    artifacts = await ensure_object_store(js, bus.artifacts_bucket, 3600)
    ctx: Any = SimpleNamespace(nc=nc, js=js, bus=bus)
    executor = ProcessExecutor(kill_grace_seconds=1.0)
    attempts = Attempts(ctx, settings, executor, artifacts, "runner-under-test")
    return attempts, work.model_copy(update={"definition_key": key, "pipeline_definition": None})


async def test_an_attempts_folder_is_removed_on_the_loop_once_its_report_is_sent(
    nc: Client, bus: BusNames, service_settings: Callable[..., Any], tmp_path: Path
) -> None:
    project = Project(tmp_path)
    settings: RunnerSettings = service_settings(RunnerSettings)
    quiet = project.work(project.write("quiet.sh", ":\n"))
    attempts, work = await _attempts(nc, bus, settings, project, quiet)
    reported: list[bytes] = []

    async def answer(msg: Msg) -> None:
        reported.append(msg.data)
        await msg.respond(ReportAnswer().to_bytes())

    scheduler = await nc.subscribe(bus.report_step, cb=answer)
    pool = CountingPool(max_workers=2)
    asyncio.get_running_loop().set_default_executor(pool)
    label = work.step_uuid[:8]

    def folders() -> list[str]:
        return [p.name for p in scratch.runner_directory().iterdir() if p.name.startswith(label)]

    for attempt in range(1, ATTEMPTS + 1):
        granted = work.model_copy(update={"attempt": attempt})
        report, _ = await attempts.run(granted, Running(None, attempt))
        assert report.status is StepStatus.SUCCESS, report.error
        assert len(folders()) == 1  # not in the way of the report
        assert await attempts.report(report, None) is None
        assert folders() == []  # removed while the answer was awaited
    await attempts.drain()
    await scheduler.unsubscribe()
    assert len(reported) == ATTEMPTS
    assert pool.submitted == 0  # no thread hop for any of them


def test_a_folder_with_more_than_an_attempt_leaves_is_left_for_a_thread(tmp_path: Path) -> None:
    made = scratch.attempt_folder("abcdef12")
    assert made.parent == scratch.runner_directory() and made.is_dir()
    (made / "pipeline.json").write_text("{}")
    (made / "view").mkdir()
    assert scratch.remove_attempt_folder(made) and not made.exists()

    full = scratch.attempt_folder("abcdef12")
    (full / "view").mkdir()
    (full / "view" / "left.txt").write_text("a step's file")
    assert not scratch.remove_attempt_folder(full)  # a folder not empty: not on the loop
    assert (full / "view" / "left.txt").exists()

    many = scratch.attempt_folder("abcdef12")
    for i in range(scratch.ENTRIES_ON_THE_LOOP + 1):
        (many / f"f{i}").write_text("")
    assert not scratch.remove_attempt_folder(many)
    assert len(os.listdir(many)) == scratch.ENTRIES_ON_THE_LOOP + 1
    assert scratch.remove_attempt_folder(tmp_path / "never-made")  # gone counts as removed


async def test_a_silent_step_gets_no_log_publisher_and_a_talking_one_its_output(
    nc: Client,
    bus: BusNames,
    service_settings: Callable[..., Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[LogPublisher] = []
    init = LogPublisher.__init__

    def counted(self: LogPublisher, *args: Any, **kwargs: Any) -> None:
        made.append(self)
        init(self, *args, **kwargs)

    monkeypatch.setattr(LogPublisher, "__init__", counted)
    project = Project(tmp_path)
    settings: RunnerSettings = service_settings(RunnerSettings)
    silent = project.work(project.write("quiet.sh", ":\n"))
    attempts, work = await _attempts(nc, bus, settings, project, silent)
    report, output = await attempts.run(work, Running(None, work.attempt))
    assert report.status is StepStatus.SUCCESS, report.error
    assert not output.written and made == []

    talking = project.work(project.write("talks.sh", "echo hello\n"))
    attempts, work = await _attempts(nc, bus, settings, project, talking)
    log = await nc.jetstream().subscribe(bus.step_log(work.run_uuid, work.step_uuid))
    report, output = await attempts.run(work, Running(None, work.attempt))
    assert report.status is StepStatus.SUCCESS, report.error
    assert output.written and len(made) == 1
    await output.close()
    chunk = await log.next_msg(timeout=10)
    assert b"hello" in chunk.data
