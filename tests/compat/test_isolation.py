"""The process executor's step views (``executor/isolation.py``), through the
executor itself: what a step sees, that the host is left alone, and that the
view holder is started again when it dies."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from compat_kit import host_paths
from step_files import one_step_work

from orchest_schemas.commands import StepWork
from orchest_step_runner.executor import ExecutionResult, ProcessExecutor
from orchest_step_runner.executor.holder import ViewHolder
from orchest_step_runner.executor.isolation import Isolation, IsolationMode, open_isolation
from support import eventually

SHOW_VIEW = """\
set -e
echo "cwd=$(pwd)"
echo "project=$ORCHEST_PROJECT_DIR"
echo "mine=$(cat mine.txt)"
echo "name=$(python3 -c 'import json; print(json.load(open("/pipeline.json"))["name"])')"
echo "title=$(python3 -c 'import json, os; print(json.load(open(os.environ["ORCHEST_PIPELINE_PATH"]))["steps"]["s"]["title"])')"
echo shared > /data/from-step.txt
if echo x > /pipeline.json 2>/dev/null; then echo "pipeline=writable"; else echo "pipeline=read-only"; fi
"""


@pytest.fixture
async def isolation(tmp_path: Path) -> AsyncIterator[Isolation]:
    async with open_isolation("namespace", tmp_path / "data") as chosen:
        yield chosen


def step_work(project: Path, file_path: str) -> StepWork:
    return one_step_work(
        project, file_path, step_uuid="s", pipeline={"name": "views"}, step={"title": "the step"}
    )


async def run_step(executor: ProcessExecutor, work: StepWork) -> tuple[ExecutionResult, str]:
    chunks: list[str] = []

    async def output(text: str) -> None:
        chunks.append(text)

    with tempfile.TemporaryDirectory(prefix="orchest-view-test-") as scratch:
        result = await executor.execute(
            work, output=output, cancel=asyncio.Event(), scratch_dir=Path(scratch)
        )
    return result, "".join(chunks)


def seen(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def make_project(root: Path) -> Path:
    (root / "steps").mkdir(parents=True)
    (root / "steps" / "show.sh").write_text(SHOW_VIEW)
    (root / "steps" / "mine.txt").write_text(root.name)
    return root


async def test_each_step_sees_its_own_project_data_and_pipeline_file(
    isolation: Isolation, tmp_path: Path
) -> None:
    assert isolation.mode is IsolationMode.NAMESPACE
    executor = ProcessExecutor(isolation=isolation)
    on_host = await asyncio.to_thread(host_paths)
    projects = [make_project(tmp_path / name) for name in ("first", "second")]
    results = await asyncio.gather(
        *(run_step(executor, step_work(p, "steps/show.sh")) for p in projects)
    )
    for project, (result, text) in zip(projects, results, strict=True):
        assert result.succeeded, text
        assert seen(text) == {
            "cwd": "/project-dir/steps",
            "project": "/project-dir",
            "mine": project.name,
            "name": "views",
            "title": "the step",
            "pipeline": "read-only",
        }
    assert (tmp_path / "data" / "from-step.txt").read_text() == "shared\n"
    assert await asyncio.to_thread(host_paths) == on_host


async def kill_holder(isolation: Isolation) -> ViewHolder:
    """SIGKILL the view holder this test's fixture started; it, once it has exited."""
    holder = isolation.holder
    assert holder is not None
    os.kill(holder.pid, signal.SIGKILL)

    async def ended() -> bool | None:
        return True if not holder.alive else None

    await eventually(ended, timeout=30, what="the killed holder's exit")
    return holder


async def test_a_dead_view_holder_is_started_again(isolation: Isolation, tmp_path: Path) -> None:
    executor = ProcessExecutor(isolation=isolation)
    project = make_project(tmp_path / "project")
    holder = await kill_holder(isolation)
    result, text = await run_step(executor, step_work(project, "steps/show.sh"))
    assert result.succeeded, text
    assert seen(text)["mine"] == "project"
    assert isolation.holder is not holder and isolation.holder is not None
    assert isolation.holder.alive


def mount_points(pid: int) -> list[str]:
    """Where the mounts of ``pid``'s namespace are (its ``mountinfo``'s fifth field)."""
    lines = Path(f"/proc/{pid}/mountinfo").read_text().splitlines()
    return [line.split()[4].replace("\\040", " ") for line in lines]


async def test_a_view_holds_no_copy_of_the_views_made_before_it(
    isolation: Isolation, tmp_path: Path
) -> None:
    # Views live in scratch directories under an entry of / that every view
    # binds with what is mounted under it (here /tmp): the first three stay
    # alive, as pooled kernels' views do, while the fourth is made.
    holder = isolation.holder
    assert holder is not None
    roots = []
    for name in ("first", "second", "third", "fourth"):
        root = tmp_path / name / "view"
        root.mkdir(parents=True)
        await holder.make(root, [])
        roots.append(str(root))
    mounts = await asyncio.to_thread(mount_points, holder.pid)  # one read: one state

    def inside(root: str) -> list[str]:
        return [point for point in mounts if point.startswith(root + "/")]

    # The fourth view holds as many mounts as the first, and none of them is
    # a copy of an earlier view (found at that view's path under its own /tmp).
    assert len(inside(roots[3])) == len(inside(roots[0]))
    copies = [
        point for point in inside(roots[3]) if any(r in point[len(roots[3]) :] for r in roots)
    ]
    assert copies == []
    for root in roots:
        await holder.drop(Path(root))


async def test_a_steps_view_is_detached_after_it_without_a_wait(
    isolation: Isolation, tmp_path: Path
) -> None:
    # The drop of a step's view is sent as the attempt ends and its reply
    # read with the next request's: by the time the next view is made, the
    # holder has detached the first, and a drop that failed does not stand in
    # the way of the next request.
    executor = ProcessExecutor(isolation=isolation)
    project = make_project(tmp_path / "project")
    holder = isolation.holder
    assert holder is not None
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    result = await executor.execute(
        step_work(project, "steps/show.sh"),
        output=_ignore,
        cancel=asyncio.Event(),
        scratch_dir=scratch,
    )
    assert result.succeeded, result
    holder.drop_soon(tmp_path / "never-made")  # fails in the holder: logged, not raised
    second = tmp_path / "second" / "view"
    second.mkdir(parents=True)
    await holder.make(second, [])
    mounts = await asyncio.to_thread(mount_points, holder.pid)
    first = str(scratch / "view")
    assert [m for m in mounts if m == first or m.startswith(first + "/")] == []
    assert str(second) in mounts
    await holder.drop(second)


async def _ignore(text: str) -> None:
    pass


async def test_a_request_abandoned_after_its_write_does_not_shift_the_replies(
    isolation: Isolation, tmp_path: Path
) -> None:
    # A request cancelled once written (the attempt cancelled while its view
    # is made) leaves its reply in the pipe: the next request skips it rather
    # than taking it for its own.
    holder = isolation.holder
    assert holder is not None
    abandoned = asyncio.create_task(holder.make(tmp_path / "never-made", []))
    await asyncio.sleep(0)  # wait-ok: one turn of the loop: the request is written
    abandoned.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await abandoned
    root = tmp_path / "made" / "view"
    root.mkdir(parents=True)
    await holder.make(root, [])  # before: the abandoned request's error, as its own
    assert str(root) in await asyncio.to_thread(mount_points, holder.pid)
    await holder.drop(root)
