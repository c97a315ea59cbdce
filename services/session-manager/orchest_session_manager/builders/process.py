"""A process build: a virtual environment made by ``uv venv``, over the
packages of the interpreter this service runs on (``ipykernel``, the Orchest
SDK), in which the setup script runs (``docs/environments.md``).

```
<build dir>/venv/                         the environment (``bin/python``, ``bin/pip``: a shim)
<build dir>/venv/lib/.../_orchest_base.pth  the base interpreter's site-packages, beneath its own
<build dir>/setup_script.sh               the script as it was built
```
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import sys
import sysconfig
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from orchest_schemas.environments import EnvironmentSpec
from orchest_service.childenv import inherited_environment

from ..runtime.venvs import uv_command

KILL_GRACE_SECONDS = 1.0
"""A cancelled build's processes get SIGTERM, then SIGKILL after this."""
READ_CHUNK = 64 * 1024

Write = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class Built:
    """What a build made, or why it did not."""

    ok: bool
    reason: str | None = None
    exit_code: int | None = None
    venv_path: str | None = None
    size_bytes: int | None = None
    image: str | None = None


class ProcessBuilder:
    def __init__(self, python: str = sys.executable, environ: Mapping[str, str] | None = None):
        self._python = python
        self._environ = os.environ if environ is None else environ

    async def build(
        self, spec: EnvironmentSpec, project_dir: Path, build_dir: Path, write: Write
    ) -> Built:
        """Make the venv and run the setup script in it, writing their output
        to ``write``. Cancelling the task kills what runs, within 2 s."""
        venv = build_dir / "venv"
        await asyncio.to_thread(build_dir.mkdir, parents=True, exist_ok=True)
        await write(f"$ uv venv {venv}\n")
        env = inherited_environment(self._environ)
        code = await _run([*uv_command(), "venv", "--python", self._python, str(venv)], env, write)
        if code != 0:
            return Built(False, f"uv venv failed (exit code {code})", code)
        await asyncio.to_thread(_layer_over_base, venv, self._python)
        script = build_dir / "setup_script.sh"
        await asyncio.to_thread(script.write_text, spec.setup_script)
        script_env = {
            **env,
            **spec.env_variables,
            "VIRTUAL_ENV": str(venv),
            "PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', os.defpath)}",
            "ORCHEST_PROJECT_DIR": str(project_dir),
        }
        await write("$ bash setup_script.sh\n")
        code = await _run(["bash", str(script)], script_env, write, cwd=project_dir)
        if code != 0:
            return Built(False, f"the setup script failed (exit code {code})", code)
        size = await asyncio.to_thread(_size_of, build_dir)
        return Built(True, None, 0, str(venv), size)


def _layer_over_base(venv: Path, python: str) -> None:
    """The base interpreter's packages beneath the venv's own, and a ``pip``
    that installs into the venv (``uv pip``)."""
    purelib = Path(sysconfig.get_paths()["purelib"]) if python == sys.executable else None
    [site] = list(venv.glob("lib/python*/site-packages"))
    if purelib is not None:
        (site / "_orchest_base.pth").write_text(f"{purelib}\n")
    uv = " ".join(shlex.quote(part) for part in uv_command())
    shim = (
        "#!/bin/sh\n"
        "# pip of this environment: uv pip, installing into it\n"
        f'VIRTUAL_ENV={shlex.quote(str(venv))} exec {uv} pip "$@"\n'
    )
    for name in ("pip", "pip3"):
        path = venv / "bin" / name
        path.write_text(shim)
        path.chmod(0o755)


def _size_of(folder: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


async def _run(
    argv: list[str], env: Mapping[str, str], write: Write, cwd: Path | None = None
) -> int:
    """Run ``argv`` in a process group of its own, its output to ``write``;
    its exit code. Cancelled: the group is killed (SIGTERM, then SIGKILL)."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=dict(env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    assert process.stdout is not None
    try:
        while chunk := await process.stdout.read(READ_CHUNK):
            await write(chunk.decode(errors="replace"))
        return await process.wait()
    except BaseException:
        await asyncio.shield(_kill_group(process))
        raise
    finally:
        _signal_group(process.pid, signal.SIGKILL)  # what the script left running


async def _kill_group(process: asyncio.subprocess.Process) -> None:
    _signal_group(process.pid, signal.SIGTERM)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), KILL_GRACE_SECONDS)
    _signal_group(process.pid, signal.SIGKILL)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), KILL_GRACE_SECONDS)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
