"""The isolated Python environments that sessions' processes run from.

Enterprise Gateway 3 pins ``jupyter-client`` 6, which current ``ipykernel``
and ``jupyter-server`` do not accept, so each lives in an environment of its
own, described by a small uv project under ``session-venvs/<name>/`` (its
``pyproject.toml`` and ``uv.lock``; not workspace members). An environment is
made with ``uv sync --frozen`` into ``<venvs dir>/<name>``:

```
$ORCHEST_SESSION_VENVS_DIR (default ~/.local/share/orchest/session-venvs)
  <name>/                 the virtual environment
  <name>/.orchest-synced  what it was synced from (hash of the lock, the project, the Python)
  <name>.lock             held (flock) while it is being synced
```

An environment whose stamp matches is used as it is, without running uv.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

RUNTIMES_DIR_ENV = "ORCHEST_SESSION_VENVS_DIR"
ENTERPRISE_GATEWAY = "enterprise-gateway"
JUPYTER_SERVER = "jupyter-server"

PROJECTS_DIR = Path(__file__).resolve().parents[4] / "session-venvs"
"""The repository's ``session-venvs/`` (this file is in ``services/session-manager/...``)."""
STAMP_NAME = ".orchest-synced"
# Variables of the caller's own environment that would send uv elsewhere.
_UV_IGNORED = ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "UV_PROJECT", "UV_FROZEN", "UV_LOCKED")


class EnvironmentFailed(Exception):
    """An environment could not be made (the reason holds uv's output)."""


def default_venvs_dir() -> Path:
    """``$ORCHEST_SESSION_VENVS_DIR``, else ``session-venvs`` in the user data dir."""
    if value := os.environ.get(RUNTIMES_DIR_ENV):
        return Path(value)
    import platformdirs

    return Path(platformdirs.user_data_dir("orchest", appauthor=False)) / "session-venvs"


def ensure_venv(
    name: str,
    *,
    venvs_dir: Path | None = None,
    projects_dir: Path = PROJECTS_DIR,
    python: str = sys.executable,
) -> Path:
    """Make (or update) environment ``name``; return its directory.

    Blocking: up to a minute when packages must be downloaded, microseconds
    when the environment is up to date. Callers in several processes may
    call it at once: one syncs, the others wait for it and then find it done.
    """
    project = projects_dir / name
    if not (project / "uv.lock").is_file():
        raise EnvironmentFailed(f"no runtime project {name!r} (no uv.lock in {project})")
    root = venvs_dir or default_venvs_dir()
    venv = root / name
    stamp = _fingerprint(project, python)
    if _is_synced(venv, stamp):
        return venv
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{name}.lock", "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            if not _is_synced(venv, stamp):
                (venv / STAMP_NAME).unlink(missing_ok=True)
                _sync(project, venv, python)
                (venv / STAMP_NAME).write_text(stamp)
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
    return venv


def environment_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _fingerprint(project: Path, python: str) -> str:
    digest = hashlib.sha256()
    for part in ((project / "uv.lock").read_bytes(), (project / "pyproject.toml").read_bytes()):
        digest.update(hashlib.sha256(part).digest())
    digest.update(python.encode())
    return digest.hexdigest()


def _is_synced(venv: Path, stamp: str) -> bool:
    try:
        return (venv / STAMP_NAME).read_text() == stamp and environment_python(venv).exists()
    except OSError:
        return False


def uv_command() -> list[str]:
    """How to run uv: the one on PATH, else the uv package of this interpreter."""
    found = shutil.which("uv")
    return [found] if found else [sys.executable, "-m", "uv"]


def _sync(project: Path, venv: Path, python: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in _UV_IGNORED}
    env["UV_PROJECT_ENVIRONMENT"] = str(venv)
    argv = [*uv_command(), "sync", "--frozen", "--no-progress", "--project", str(project)]
    started = time.monotonic()
    result = subprocess.run(
        [*argv, "--python", python],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        output = "\n".join((result.stdout + result.stderr).strip().splitlines()[-20:])
        raise EnvironmentFailed(
            f"uv sync of {project.name} failed (exit code {result.returncode}) after "
            f"{time.monotonic() - started:.1f}s:\n{output}"
        )
