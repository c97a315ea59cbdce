"""``orchest up`` and ``orchest down``: starting and stopping a detached supervisor."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from orchest_schemas.session_marks import MARKER_VARIABLE, owner_key

from .bytecode import bytecode_env
from .processes import find_process
from .statedir import StateDir, is_running


class StackError(Exception):
    """The stack could not be started or stopped."""


@dataclass(frozen=True)
class UpResult:
    already_running: bool
    seconds: float
    stack: dict[str, Any]


def up(
    state: StateDir, port: int, timeout: float = 90.0, runners: int = 1, gateways: int = 1
) -> UpResult:
    """Start the stack detached; return once it is healthy (or raise)."""
    state.prepare()
    if is_running(state):
        return UpResult(True, 0.0, state.read_stack() or {})
    t0 = time.monotonic()
    read_fd, write_fd = os.pipe()
    with state.log("supervisor").open("ab") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "orchest_cli.supervisor",
                "--state-dir",
                str(state.root),
                "--port",
                str(port),
                "--notify-fd",
                str(write_fd),
                "--ready-timeout",
                str(timeout),
                "--runners",
                str(runners),
                "--gateways",
                str(gateways),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            pass_fds=(write_fd,),
            start_new_session=True,
            env=bytecode_env(os.environ),
        )
    os.close(write_fd)
    try:
        message = _read_line(read_fd, timeout + 30.0)
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGTERM)
        raise
    finally:
        os.close(read_fd)
    if message is None:
        code = proc.poll()
        if code is None:
            proc.send_signal(signal.SIGTERM)
        raise StackError(
            f"the supervisor gave no answer (exit code {code}); see {state.log('supervisor')}"
        )
    if not message.get("ready"):
        proc.wait(timeout=60)
        raise StackError(f"{message.get('error', 'not ready')}\nlogs: {state.logs}")
    return UpResult(False, time.monotonic() - t0, message)


def _read_line(fd: int, timeout: float) -> dict[str, Any] | None:
    deadline = time.monotonic() + timeout
    buffer = b""
    while b"\n" not in buffer:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        readable, _, _ = select.select([fd], [], [], remaining)
        if not readable:
            return None
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        buffer += chunk
    if not buffer.strip():
        return None
    result: dict[str, Any] = json.loads(buffer.split(b"\n", 1)[0])
    return result


def down(state: StateDir, timeout: float = 60.0) -> list[int]:
    """Stop the stack on ``state``; return the pids that had to be killed.

    SIGTERM to the supervisor, which stops everything in order. Whatever
    process of the stack is still alive afterwards (the supervisor itself
    killed, a child stuck) is killed, and so is what its process sessions
    left (``session_leftovers``), so no process is left behind.
    """
    stack = state.read_stack() or {}
    processes = _live_processes(stack)
    supervisor = processes.pop("supervisor", None)
    if supervisor is not None and is_running(state):
        supervisor.send_signal(signal.SIGTERM)
        if not wait_gone([supervisor], timeout):
            supervisor.kill()
    elif supervisor is not None:
        supervisor.kill()
    wait_gone(list(processes.values()), 5.0)
    alive = [p for p in processes.values() if _exists(p)]
    for proc in alive:
        proc.kill()
    wait_gone(alive, 5.0)
    left = session_leftovers(state, stack)
    if left:
        _end(left, SESSION_STOP_GRACE)
    state.stack_file.unlink(missing_ok=True)
    return [p.pid for p in alive + left]


SESSION_STOP_GRACE = 5.0
"""What ``orchest down`` gives a session's process left behind to end on SIGTERM."""


def session_leftovers(state: StateDir, stack: dict[str, Any]) -> list[psutil.Process]:
    """The processes of the process sessions of ``stack`` (as ``run/stack.json``
    recorded it) that still run once the stack's own processes are gone
    (marked ``ORCHEST_SESSION=<owner>:...``, and their descendants).

    The session manager stops them as it stops, but they are detached (they
    outlive a restart of the manager), so a manager that did not get through
    its stop (killed, or past its drain timeout on a loaded machine) leaves
    them running, writing under the state directory. ``orchest down`` ends
    them, unless the stack keeps its sessions over a stop
    (``ORCHEST_SESSION_STOP_ON_EXIT`` false).
    """
    record = stack.get("sessions") or {"dir": str(state.sessions), "stop_on_exit": True}
    if not record.get("stop_on_exit"):
        return []
    prefix = f"{owner_key(Path(record['dir']))}:"
    found: dict[int, psutil.Process] = {}
    for process in psutil.process_iter():
        try:
            if not process.environ().get(MARKER_VARIABLE, "").startswith(prefix):
                continue
            found.setdefault(process.pid, process)
            for child in process.children(recursive=True):
                found.setdefault(child.pid, child)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return [p for p in found.values() if _exists(p)]


def _end(procs: list[psutil.Process], grace: float) -> None:
    """SIGTERM, up to ``grace`` seconds to exit, then SIGKILL."""
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.terminate()
    if wait_gone(procs, grace):
        return
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    wait_gone(procs, 5.0)


def _exists(proc: psutil.Process) -> bool:
    """Running, and not a zombie: the stack's processes are not our children
    (their parent, ``orchest up``, has exited), so init reaps them, sometimes
    seconds later; a zombie no longer runs anything."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_gone(procs: list[psutil.Process], timeout: float) -> bool:
    """Wait until none of ``procs`` exists; False if some still do at the deadline."""
    deadline = time.monotonic() + timeout
    while any(_exists(p) for p in procs):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


def _live_processes(stack: dict[str, Any]) -> dict[str, psutil.Process]:
    live: dict[str, psutil.Process] = {}
    for name, identity in (stack.get("processes") or {}).items():
        proc = find_process(identity)
        if proc is not None:
            live[name] = proc
    return live


def stack_pids(state: StateDir) -> list[int]:
    """The recorded pids of the stack that still run."""
    return [p.pid for p in _live_processes(state.read_stack() or {}).values()]
