"""The layout of a state directory, and the lock that says a stack runs on it.

```
<state>/nats/           JetStream file storage
<state>/postgres/       Postgres data directory
<state>/logs/<name>.log one log per process (supervisor, nats, postgres, services)
<state>/run/lock        held (flock) by the supervisor while it runs
<state>/run/stack.json  URLs and process ids of the running stack
<state>/run/nats.conf   the embedded NATS's config, with its users (0600)
<state>/secrets/nats-users.json  the NATS users' passwords (0600; kept across starts)
```
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_PORT = 8000
STATE_DIR_ENV = "ORCHEST_STATE_DIR"


def default_state_dir() -> Path:
    """``$ORCHEST_STATE_DIR``, else the user data dir (``~/.local/share/orchest``)."""
    if value := os.environ.get(STATE_DIR_ENV):
        return Path(value)
    import platformdirs

    return Path(platformdirs.user_data_dir("orchest", appauthor=False))


@dataclass(frozen=True)
class StateDir:
    root: Path

    @property
    def nats(self) -> Path:
        return self.root / "nats"

    @property
    def postgres(self) -> Path:
        return self.root / "postgres"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    @property
    def jobs(self) -> Path:
        """Job snapshots and their runs' workspaces (the scheduler's ``jobs_dir``)."""
        return self.root / "jobs"

    @property
    def projects(self) -> Path:
        """Every folder in it is a project (the scheduler's ``projects_dir``)."""
        return self.root / "projects"

    @property
    def data(self) -> Path:
        """The stack's data directory: ``/data`` of every step (the runner's ``data_dir``)."""
        return self.root / "data"

    @property
    def sessions(self) -> Path:
        """Files of the sessions' processes (the session manager's ``sessions_dir``)."""
        return self.root / "sessions"

    @property
    def session_venvs(self) -> Path:
        """The isolated environments of Enterprise Gateway and the Jupyter server."""
        return self.root / "session-venvs"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def lock_path(self) -> Path:
        return self.run / "lock"

    @property
    def stack_file(self) -> Path:
        return self.run / "stack.json"

    @property
    def nats_config(self) -> Path:
        return self.run / "nats.conf"

    @property
    def secrets(self) -> Path:
        return self.root / "secrets"

    @property
    def nats_users_file(self) -> Path:
        """The users of the embedded NATS: ``services`` and ``ui``, with their passwords."""
        return self.secrets / "nats-users.json"

    def prepare(self) -> None:
        for path in (self.root, self.logs, self.run):
            path.mkdir(parents=True, exist_ok=True)
        self.secrets.mkdir(mode=0o700, exist_ok=True)
        self.secrets.chmod(0o700)

    def read_stack(self) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads(self.stack_file.read_text())
        except (OSError, ValueError):
            return None
        return data

    def write_stack(self, data: dict[str, Any]) -> None:
        tmp = self.stack_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        tmp.replace(self.stack_file)


class StateLock:
    """An exclusive ``flock`` on ``run/lock``: released by the kernel when the
    holder exits, however it exits, so it never goes stale."""

    def __init__(self, state: StateDir) -> None:
        self._path = state.lock_path
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Take the lock if free; False when another process holds it."""
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def is_running(state: StateDir) -> bool:
    """Whether a supervisor holds the lock of ``state``."""
    lock = StateLock(state)
    if lock.acquire():
        lock.release()
        return False
    return True
