"""A step's leader (``executor/spawn.py``: ``Popen`` and a pidfd on the loop)
keeps its own exit code beside children the loop itself started and reaps
(the guardian, the view holder: ``asyncio.create_subprocess_exec``), on
either loop (``orchest_service.loop``). Under uvloop libuv reaps the loop's
children on SIGCHLD; were it to wait for any child (``waitpid(-1)``), a
leader reaped by it would read as exit code 0 through ``Popen.poll``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
import uvloop

from orchest_step_runner.executor import spawn

ROUNDS = 20
TIMEOUT = 60.0


@pytest.mark.parametrize(
    "loop_factory",
    [uvloop.new_event_loop, asyncio.SelectorEventLoop],
    ids=["uvloop", "asyncio"],
)
def test_leaders_keep_their_exit_codes_beside_the_loops_own_children(
    loop_factory: Callable[[], asyncio.AbstractEventLoop], tmp_path: Path
) -> None:
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(leaders_beside_the_loops_children(tmp_path))


async def leaders_beside_the_loops_children(tmp_path: Path) -> None:
    leaders: list[tuple[int, spawn.Leader]] = []
    own: list[asyncio.subprocess.Process] = []
    for i in range(ROUNDS):
        code = 10 + i
        own.append(await asyncio.create_subprocess_exec("sh", "-c", "exit 3"))
        leaders.append(
            (code, spawn.start(["sh", "-c", f"exit {code}"], cwd=tmp_path, env={"PATH": "/bin"}))
        )
    try:
        async with asyncio.timeout(TIMEOUT):
            for _, leader in leaders:
                await leader.exited
                assert await leader.output.read(1024) == b""
            assert [await process.wait() for process in own] == [3] * ROUNDS
    finally:
        for _, leader in leaders:
            leader.close()
    assert [leader.returncode for _, leader in leaders] == [code for code, _ in leaders]
