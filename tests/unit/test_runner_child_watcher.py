"""The step runner's process learns of its steps' exits without a thread per
step (``service.watch_children_by_pidfd``, called by its ``__main__``)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """\
    import asyncio, threading
    from orchest_step_runner.service import watch_children_by_pidfd

    assert watch_children_by_pidfd()

    async def main():
        process = await asyncio.create_subprocess_exec("sleep", "0.2")
        during = threading.active_count()
        assert await process.wait() == 0
        print(during)

    asyncio.run(main())
    """
)


def test_a_child_process_starts_no_thread() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1"], "threads while the child ran"
