"""Script steps' views kept from one attempt to the next (``executor/views.py``):
made once per project directory and definition, never shared across either,
nothing a step writes at their top level seen by the next step, dropped when
idle or beyond the bound, and nothing of them left once the holder or its
runner ends."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from step_files import one_step_work
from test_isolation import kill_holder, make_project, run_step, seen

from orchest_schemas.commands import StepWork
from orchest_step_runner.executor import ProcessExecutor
from orchest_step_runner.executor.isolation import Isolation, open_isolation
from orchest_step_runner.scratch import remove_dead_runners_directories
from support import eventually

LEAK = """\
if [ -e /leftover ]; then echo "seen=yes"; else echo "seen=no"; fi
if echo x > /leftover 2>/dev/null; then echo "top=writable"; else echo "top=read-only"; fi
echo "mine=$(cat mine.txt)"
echo "name=$(python3 -c 'import json; print(json.load(open("/pipeline.json"))["name"])')"
"""


@pytest.fixture
async def isolation(tmp_path: Path) -> AsyncIterator[Isolation]:
    async with open_isolation("namespace", tmp_path / "data") as chosen:
        yield chosen


def project_with_leak(root: Path) -> Path:
    make_project(root)
    (root / "steps" / "leak.sh").write_text(LEAK)
    return root


def work_of(project: Path, name: str = "views") -> StepWork:
    """One definition (its own uuid): the attempts made from it share it."""
    return one_step_work(project, "steps/leak.sh", step_uuid="s", pipeline={"name": name})


def again(work: StepWork) -> StepWork:
    """Another run of the same definition."""
    return work.model_copy(update={"run_uuid": os.urandom(8).hex()})


def read(path: str) -> str:
    return Path(path).read_text()


def kept_roots(isolation: Isolation) -> dict[str, str]:
    """The kept views mounted in the holder's namespace: root -> mount id."""
    holder = isolation.holder
    assert holder is not None
    lines = Path(f"/proc/{holder.pid}/mountinfo").read_text().splitlines()
    base = str(holder.base) + "/"
    return {
        line.split()[4]: line.split()[0]
        for line in lines
        if line.split()[4].startswith(base) and "/" not in line.split()[4][len(base) :]
    }


async def test_the_attempts_of_one_project_and_definition_share_one_view(
    isolation: Isolation, tmp_path: Path
) -> None:
    executor = ProcessExecutor(isolation=isolation)
    project = project_with_leak(tmp_path / "project")
    work = work_of(project)
    result, text = await run_step(executor, work)
    assert result.succeeded, text
    first = await asyncio.to_thread(kept_roots, isolation)
    assert len(first) == 1, first  # kept after its attempt ended
    for _ in range(2):
        result, text = await run_step(executor, again(work))
        assert result.succeeded, text
    # Four at once: the ones arriving while it is (re)used wait for no other.
    results = await asyncio.gather(*(run_step(executor, again(work)) for _ in range(4)))
    assert all(result.succeeded for result, _ in results), results
    assert await asyncio.to_thread(kept_roots, isolation) == first  # the same mount
    assert len(isolation.kept) == 1


async def test_a_view_is_never_shared_across_projects_or_definitions_nor_written(
    isolation: Isolation, tmp_path: Path
) -> None:
    executor = ProcessExecutor(isolation=isolation)
    first, second = (project_with_leak(tmp_path / name) for name in ("first", "second"))
    one, other = work_of(first, "one"), work_of(first, "other")
    cases = [(one, "first", "one"), (work_of(second, "one"), "second", "one")]
    cases += [(again(one), "first", "one"), (other, "first", "other"), (again(one), "first", "one")]
    for work, mine, name in cases:
        result, text = await run_step(executor, work)
        assert result.succeeded, text
        # Nothing a step writes at the top of its view is there for the next.
        assert seen(text) == {"top": "read-only", "seen": "no", "mine": mine, "name": name}
    assert len(isolation.kept) == 3


async def test_idle_views_are_dropped_after_a_while_and_beyond_the_bound(
    isolation: Isolation, tmp_path: Path
) -> None:
    executor = ProcessExecutor(isolation=isolation)
    projects = [project_with_leak(tmp_path / name) for name in ("a", "b", "c")]
    isolation.kept.idle_max = 1
    for project in projects:
        result, text = await run_step(executor, work_of(project))
        assert result.succeeded, text
    assert len(isolation.kept) == 1  # the last one used

    async def one_left() -> bool | None:  # the others' drops are sent, not awaited
        return True if len(await asyncio.to_thread(kept_roots, isolation)) == 1 else None

    await eventually(one_left, timeout=10, what="the views beyond the bound dropped")
    isolation.kept.idle_seconds = 0.2
    result, text = await run_step(executor, work_of(projects[0]))
    assert result.succeeded, text

    async def none_left() -> bool | None:
        return True if not await asyncio.to_thread(kept_roots, isolation) else None

    await eventually(none_left, timeout=10, what="the idle views dropped")
    assert len(isolation.kept) == 0


async def test_a_view_of_a_holder_that_ended_is_not_used_again(
    isolation: Isolation, tmp_path: Path
) -> None:
    executor = ProcessExecutor(isolation=isolation)
    work = work_of(project_with_leak(tmp_path / "project"))
    result, text = await run_step(executor, work)
    assert result.succeeded, text
    holder = await kill_holder(isolation)
    result, text = await run_step(executor, again(work))
    assert result.succeeded, text
    assert seen(text)["mine"] == "project"
    assert isolation.holder is not holder
    assert len(await asyncio.to_thread(kept_roots, isolation)) == 1
    assert not holder.base.exists()  # the ended holder's folder is gone


async def test_nothing_is_left_once_the_isolation_closes(tmp_path: Path) -> None:
    async with open_isolation("namespace", tmp_path / "data") as isolation:
        executor = ProcessExecutor(isolation=isolation)
        result, text = await run_step(executor, work_of(project_with_leak(tmp_path / "p")))
        assert result.succeeded, text
        holder = isolation.holder
        assert holder is not None and holder.base.is_dir()
    assert not holder.alive
    assert not await asyncio.to_thread(holder.base.exists)
    assert str(holder.base) not in await asyncio.to_thread(read, "/proc/self/mountinfo")


RUNNER = """\
import asyncio, json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from step_files import one_step_work
from orchest_step_runner import scratch
from orchest_step_runner.executor import ProcessExecutor
from orchest_step_runner.executor.isolation import open_isolation

async def main():
    folder = scratch.hold()
    project = Path(sys.argv[2])
    async with open_isolation("namespace", project / "data") as isolation:
        executor = ProcessExecutor(isolation=isolation)
        work = one_step_work(project, "steps/leak.sh", step_uuid="s", pipeline={"name": "x"})
        result = await executor.execute(
            work, output=print_nothing, cancel=asyncio.Event(), scratch_dir=Path(scratch_dir(folder))
        )
        assert result.succeeded, result
        holder = isolation.holder
        print(json.dumps({"holder": holder.pid, "base": str(holder.base), "folder": str(folder)}))
        sys.stdout.flush()
        await asyncio.to_thread(sys.stdin.read)

async def print_nothing(text):
    pass

def scratch_dir(folder):
    (folder / "s-1").mkdir()
    return folder / "s-1"

asyncio.run(main())
"""


async def test_nothing_is_left_after_the_runner_is_killed(tmp_path: Path) -> None:
    project = project_with_leak(tmp_path / "project")
    tests = Path(__file__).parent.parent
    runner = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        RUNNER,
        str(tests),
        str(project),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert runner.stdout is not None
        line = await asyncio.wait_for(runner.stdout.readline(), timeout=60)
        state = json.loads(line)
        holder, base, folder = state["holder"], Path(state["base"]), Path(state["folder"])
        assert base.parent == folder
        view_mounts = (await asyncio.to_thread(read, f"/proc/{holder}/mountinfo")).count(
            str(base) + "/"
        )
        assert view_mounts > 0  # the step's view is kept in the holder
    finally:
        runner.kill()  # SIGKILL: nothing of its own clean-up runs
        await runner.wait()

    async def holder_gone() -> bool | None:
        try:
            status = read(f"/proc/{holder}/stat").rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        return True if status == "Z" else None

    await eventually(holder_gone, timeout=30, what="the holder's exit with its runner")
    mounts = await asyncio.to_thread(read, "/proc/self/mountinfo")
    assert str(base) not in mounts  # nothing on the host
    removed = await asyncio.to_thread(remove_dead_runners_directories)
    assert folder in removed and not await asyncio.to_thread(folder.exists)


async def test_a_view_too_old_is_made_again_and_the_old_one_dropped_after_its_last_step(
    isolation: Isolation, tmp_path: Path
) -> None:
    # With no age allowed, each attempt makes its view, the one arriving
    # while another's view is still in use too: the old view is given to no
    # one after, dropped once its own attempt ends, and nothing is left over.
    executor = ProcessExecutor(isolation=isolation)
    work = work_of(project_with_leak(tmp_path / "project"))
    isolation.kept.max_age_seconds = 0.0
    results = await asyncio.gather(*(run_step(executor, again(work)) for _ in range(3)))
    assert all(result.succeeded for result, _ in results), results
    result, text = await run_step(executor, again(work))
    assert result.succeeded, text
    roots = await asyncio.to_thread(kept_roots, isolation)
    assert list(roots) == [str(isolation.holder.root_of("view-3"))]  # type: ignore[union-attr]
    assert len(isolation.kept) == 1
