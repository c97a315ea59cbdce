"""Ending a step does not block the runner's event loop: the ``/proc`` scans
that find what the attempt left, the signals and the waits for the processes
to be gone run in threads.

Each event-loop callback is measured in CPU time of the loop's thread
(``support.loop_callbacks_cpu``), so other processes on the machine do not
make it fail, and the bound is about what the loop itself does.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from step_files import Output
from test_process_executor import RESULT_TIMEOUT, Project

from orchest_step_runner.executor import ProcessExecutor
from orchest_step_runner.executor.tree import is_gone, marked_processes
from support import loop_callbacks_cpu

LEFT_BEHIND = 200
"""Processes the step leaves running when it exits (each must be found and killed)."""
CALLBACK_BOUND = 0.005
"""CPU seconds any one callback may take while the step ends."""


def test_ending_a_step_that_left_processes_does_not_block_the_loop(tmp_path: Path) -> None:
    """On asyncio's own loop, whatever loop the other tests run on:
    ``loop_callbacks_cpu`` measures its callbacks (uvloop's are not
    ``asyncio.events.Handle``s), and what is measured is the executor's work
    on the loop, the same on either loop."""
    with asyncio.Runner(loop_factory=asyncio.SelectorEventLoop) as runner:
        runner.run(ending_a_step_that_left_processes(tmp_path))


async def ending_a_step_that_left_processes(tmp_path: Path) -> None:
    project = Project(tmp_path)
    go = project.files / "go"
    path = project.write(
        "many.sh",
        f"""\
        for i in $(seq {LEFT_BEHIND}); do sleep 300 & done
        echo ready
        n=0  # bounded: an interrupted test leaves no endless loop of forks behind
        while [ ! -e "$GO" ] && [ $n -lt 12000 ]; do sleep 0.01; n=$((n + 1)); done
        """,
    )
    work = project.work(path, env={"GO": str(go)})
    marker = {"ORCHEST_RUN_UUID": work.run_uuid, "ORCHEST_STEP_UUID": work.step_uuid}
    output = Output()
    executor = ProcessExecutor(kill_grace_seconds=1.0)
    task = asyncio.create_task(
        executor.execute(work, output=output, cancel=asyncio.Event(), scratch_dir=project.scratch)
    )
    try:
        await output.wait_for("ready")
        left = await asyncio.to_thread(marked_processes, marker)
        assert len(left) >= LEFT_BEHIND  # its sleeps (the shell itself may be between scans)
        with loop_callbacks_cpu() as measured:
            go.touch()  # the step exits, leaving its sleeps
            result = await asyncio.wait_for(task, RESULT_TIMEOUT)
    finally:
        task.cancel()
    assert (result.exit_code, result.error) == (0, None)
    assert all(is_gone(process) for process in left)
    worst = sorted(measured, reverse=True)[:3]
    print(
        f"{len(measured)} callbacks; the costliest (CPU ms): {[(round(s * 1000, 2), c[:60]) for s, c in worst]}"
    )
    assert worst[0][0] < CALLBACK_BOUND, worst
