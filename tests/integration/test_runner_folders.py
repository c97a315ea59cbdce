"""A runner's folder (its attempts' scratch folders, its kernel pool's) is
removed by a runner starting after it died, never while it lives, and by the
runner itself when it stops."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

import pytest

from orchest_step_runner import scratch
from orchest_step_runner.scratch import (
    MIN_FREE_BYTES,
    filesystem_type,
    remove_dead_runners_directories,
    runner_directory,
)

HOLDER = (
    "import sys\n"
    "from orchest_step_runner.scratch import runner_directory\n"
    "folder = runner_directory()\n"
    "(folder / 'b-1234' / 'view').mkdir(parents=True)\n"
    "print(folder, flush=True)\n"
    "sys.stdin.read()\n"
)


async def _runner_folder(
    env: dict[str, str] | None = None,
) -> tuple[asyncio.subprocess.Process, Path]:
    """A process that made its runner folder (with a scratch folder in it) and
    lives until its stdin closes (``env``: its environment's changes)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HOLDER,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
    return process, Path(line.decode().strip())


async def test_the_folders_of_dead_runners_are_removed_and_the_living_ones_kept() -> None:
    dead, dead_folder = await _runner_folder()
    alive, alive_folder = await _runner_folder()
    own = runner_directory()
    try:
        assert dead_folder.parent == alive_folder.parent == own.parent
        assert dead_folder.name.startswith("orchest-runner-")
        dead.kill()  # SIGKILL: nothing of its own clean-up runs
        await dead.wait()
        assert (dead_folder / "b-1234" / "view").is_dir()

        removed = await asyncio.to_thread(remove_dead_runners_directories)

        assert dead_folder in removed
        assert not dead_folder.exists()
        assert (alive_folder / "b-1234").is_dir(), "a living runner's folder was removed"
        assert own.is_dir() and own not in removed
    finally:
        assert alive.stdin is not None
        alive.stdin.close()
        await alive.wait()
    assert alive.returncode == 0
    removed = await asyncio.to_thread(remove_dead_runners_directories)
    assert alive_folder in removed and not alive_folder.exists()


async def test_a_runner_removes_its_folder_when_the_last_runner_of_its_process_stops() -> None:
    first = await asyncio.to_thread(scratch.hold)
    second = await asyncio.to_thread(scratch.hold)  # two runners in one process
    assert first == second and first.is_dir()
    (first / "b-1234").mkdir(exist_ok=True)
    await asyncio.to_thread(scratch.release)
    assert first.is_dir(), "removed while a runner of the process still serves"
    await asyncio.to_thread(scratch.release)
    assert not first.exists()
    again = await asyncio.to_thread(scratch.hold)  # a runner started after: a new folder
    try:
        assert again != first and again.is_dir()
    finally:
        await asyncio.to_thread(scratch.release)


def _shm_usable() -> bool:
    shm = Path("/dev/shm")
    if os.environ.get("TMPDIR") or filesystem_type(shm) != "tmpfs":
        return False
    free = os.statvfs(shm)
    return free.f_bavail * free.f_frsize >= MIN_FREE_BYTES and os.access(shm, os.W_OK)


@pytest.mark.skipif(not _shm_usable(), reason="no tmpfs at /dev/shm for runners here")
async def test_a_runners_folder_is_on_a_tmpfs_where_the_runner_has_one() -> None:
    folder = runner_directory()
    assert filesystem_type(folder) == "tmpfs"
    scratch_folder = folder / "b-5678"
    scratch_folder.mkdir()
    assert filesystem_type(scratch_folder) == "tmpfs"
    scratch_folder.rmdir()


async def test_an_explicit_tmpdir_is_followed_and_dead_folders_are_removed_from_each_place(
    tmp_path: Path,
) -> None:
    # One dead runner was told TMPDIR=/tmp (the temporary directory), one
    # chose by itself (a tmpfs where there is one): a runner removes both.
    told, told_folder = await _runner_folder({"TMPDIR": tempfile.gettempdir()})
    chose, chose_folder = await _runner_folder()
    for dead in (told, chose):
        dead.kill()
        await dead.wait()
    assert told_folder.parent == Path(tempfile.gettempdir())
    assert chose_folder.parent == runner_directory().parent

    removed = await asyncio.to_thread(remove_dead_runners_directories)

    assert told_folder in removed and chose_folder in removed
    assert not told_folder.exists() and not chose_folder.exists()
