"""Each step's own view of the file system: ``/project-dir``, ``/data`` and
``/pipeline.json``, as an Orchest step expects them, without Docker.

**Namespace mode.** The step's process (or notebook kernel) enters a mount
namespace of its own between fork and exec (``preexec_fn``): there its root is
a tmpfs holding a bind of every top-level entry of the host's ``/`` (so every
host path still works), plus ``/project-dir`` (the run's project directory),
``/data`` (the stack's data directory) and ``/pipeline.json`` (the attempt's
definition, read-only); then it ``chroot``s into that root. Nothing is mounted
or created on the host: the mounts live in the namespace and end with its last
process; the tmpfs's mount point is a folder of the attempt's scratch
directory. As root only a mount namespace is needed; otherwise a user
namespace too, mapping the runner's own user (which the step keeps). The pid
stays the step's (no helper process in between), so exit codes, signals and
the process-tree sweep are unchanged.

**Unisolated mode** (no namespaces here: not Linux, or neither root nor user
namespaces allowed): the step sees the host's file system as is. The SDK's
data passing still stays per run: the executor puts a ``sitecustomize`` on the
step's ``PYTHONPATH`` that points the SDK's ``Config.STEP_DATA_DIR`` (fixed at
``/project-dir/...`` in the SDK) into the run's own project directory
(``ORCHEST_PROJECT_DIR``); ``ORCHEST_PIPELINE_PATH`` already names the
attempt's ``pipeline.json``. ``/data`` does not exist in this mode.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import enum
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from orchest_schemas.commands import StepWork

from .environment import StepLaunch

logger = logging.getLogger(__name__)

PROJECT_DIR = Path("/project-dir")
DATA_DIR = Path("/data")
PIPELINE_PATH = Path("/pipeline.json")
VIEW_FOLDER = "view"
"""The folder of the scratch directory the step's root is mounted on."""
SDK_HOOK_DIR = Path(__file__).with_name("sdk_paths")
"""Holds the ``sitecustomize`` of the unisolated mode."""

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000


class IsolationError(Exception):
    """The step's view could not be made."""


class IsolationMode(enum.StrEnum):
    NAMESPACE = "mount-namespace"
    NONE = "none"


Preexec = Callable[[], None]


@dataclass(frozen=True)
class _Plan:
    """Everything the child needs, computed before the fork (no imports or
    lookups after it)."""

    root: bytes
    user: tuple[int, int] | None
    """``(uid, gid)`` to map in a new user namespace; ``None``: root, none needed."""
    entries: tuple[tuple[bytes, str, bytes], ...]
    """Top-level entries of the host's ``/``: (name, ``dir``/``file``/``link``,
    bind source or link target)."""
    binds: tuple[tuple[bytes, bytes, bool, bool], ...]
    """(source, name in the root, is a directory, read-only)."""
    cwd: bytes


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    libc.mount.argtypes = [
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_ulong,
        ctypes.c_char_p,
    ]
    libc.unshare.argtypes = [ctypes.c_int]
    return libc


_LIBC = _libc()


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _enter(plan: _Plan) -> None:
    """In the child, before exec: make the view and enter it."""
    libc = _LIBC
    assert libc is not None
    flags = CLONE_NEWNS | (CLONE_NEWUSER if plan.user is not None else 0)
    _check(libc.unshare(flags), "unshare")
    if plan.user is not None:
        uid, gid = plan.user
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
    # Nothing done here may reach the host's mount table.
    _check(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "private /")
    root = plan.root
    _check(libc.mount(b"tmpfs", root, b"tmpfs", MS_NOSUID | MS_NODEV, b"mode=0755"), "tmpfs")
    for name, kind, source in plan.entries:
        target = root + b"/" + name
        if kind == "link":
            os.symlink(source, target)
            continue
        if kind == "dir":
            os.mkdir(target)
        else:
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
        _check(libc.mount(source, target, None, MS_BIND | MS_REC, None), f"bind {source!r}")
    for source, name, is_dir, read_only in plan.binds:
        target = root + b"/" + name
        if is_dir:
            os.mkdir(target)
        else:
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
        _check(libc.mount(source, target, None, MS_BIND | MS_REC, None), f"bind {source!r}")
        if read_only:
            remount = MS_REMOUNT | MS_BIND | MS_RDONLY
            _check(libc.mount(None, target, None, remount, None), f"read-only {name!r}")
    os.chroot(root)
    os.chdir(plan.cwd)


def _host_entries(skip: frozenset[str]) -> tuple[tuple[bytes, str, bytes], ...]:
    entries = []
    with os.scandir("/") as listing:
        for entry in listing:
            if entry.name in skip:
                continue
            name = os.fsencode(entry.name)
            if entry.is_symlink():
                entries.append((name, "link", os.fsencode(os.readlink(entry.path))))
            elif entry.is_dir():
                entries.append((name, "dir", os.fsencode(entry.path)))
            elif entry.is_file():
                entries.append((name, "file", os.fsencode(entry.path)))
    return tuple(entries)


_PROVIDED = frozenset(p.name for p in (PROJECT_DIR, DATA_DIR, PIPELINE_PATH))


def view_preexec(
    *, root: Path, project_dir: Path, data_dir: Path, pipeline_file: Path, cwd: Path
) -> Preexec:
    """The ``preexec_fn`` that puts the child into its view; ``root`` is an
    empty folder, ``cwd`` a path inside the view."""
    uid, gid = os.getuid(), os.getgid()
    plan = _Plan(
        root=os.fsencode(root),
        user=None if uid == 0 else (uid, gid),
        entries=_host_entries(_PROVIDED),
        binds=(
            (os.fsencode(project_dir), os.fsencode(PROJECT_DIR.name), True, False),
            (os.fsencode(data_dir), os.fsencode(DATA_DIR.name), True, False),
            (os.fsencode(pipeline_file), os.fsencode(PIPELINE_PATH.name), False, True),
        ),
        cwd=os.fsencode(cwd),
    )
    return lambda: _enter(plan)


@dataclass(frozen=True)
class StepView:
    """How one attempt is started: its launch (environment as the step sees
    it; ``cwd`` and ``file`` stay the runner's paths), the step file's path in
    the view, and the ``preexec_fn`` entering it (``None``: unisolated)."""

    launch: StepLaunch
    file: Path
    preexec: Preexec | None


@dataclass(frozen=True)
class Isolation:
    """The mode this runner gives its steps, chosen once at start-up."""

    mode: IsolationMode
    data_dir: Path
    reason: str | None = None
    """Why the mode is ``none``."""

    def describe(self) -> str:
        if self.mode is IsolationMode.NAMESPACE:
            return f"{self.mode.value} (/data: {self.data_dir})"
        return f"{self.mode.value} ({self.reason})"

    def view(self, work: StepWork, launch: StepLaunch) -> StepView:
        """The attempt's view (writes nothing but a folder of its scratch directory)."""
        project_dir = Path(work.project_dir).absolute()
        if self.mode is IsolationMode.NONE:
            return StepView(replace(launch, env=_unisolated_env(launch.env)), launch.file, None)
        root = launch.scratch_dir / VIEW_FOLDER
        root.mkdir()
        cwd = PROJECT_DIR / launch.cwd.relative_to(project_dir)
        env = {**launch.env, "ORCHEST_PROJECT_DIR": str(PROJECT_DIR)}
        preexec = view_preexec(
            root=root,
            project_dir=project_dir,
            data_dir=self.data_dir,
            pipeline_file=launch.pipeline_path,
            cwd=cwd,
        )
        file = PROJECT_DIR / launch.file.relative_to(project_dir)
        return StepView(replace(launch, env=env), file, preexec)


def _unisolated_env(env: Mapping[str, str]) -> dict[str, str]:
    """The step's environment with the SDK hook first on ``PYTHONPATH``."""
    path = [str(SDK_HOOK_DIR)]
    if env.get("PYTHONPATH"):
        path.append(env["PYTHONPATH"])
    return {**env, "PYTHONPATH": os.pathsep.join(path)}


def probe(data_dir: Path) -> str | None:
    """Try a view here (blocking, some milliseconds): ``None`` when it works,
    else why not."""
    if _LIBC is None:
        return f"no mount namespaces on {sys.platform}"
    with tempfile.TemporaryDirectory(prefix="orchest-isolation-") as scratch:
        base = Path(scratch)
        (base / VIEW_FOLDER).mkdir()
        (base / "project").mkdir()
        (base / "project" / "probe").write_text("project")
        (base / "pipeline.json").write_text("{}")
        preexec = view_preexec(
            root=base / VIEW_FOLDER,
            project_dir=base / "project",
            data_dir=data_dir,
            pipeline_file=base / "pipeline.json",
            cwd=PROJECT_DIR,
        )
        check = "test -f probe && test -d /data && test -f /pipeline.json && test -d /proc/self"
        try:
            done = subprocess.run(
                ["sh", "-c", check],
                preexec_fn=preexec,
                capture_output=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            return f"cannot enter a mount namespace: {exc}"
        if done.returncode != 0:
            return f"the view check failed: {done.stderr.decode(errors='replace').strip()}"
    return None


def choose(setting: str, data_dir: Path) -> Isolation:
    """The mode for ``setting`` (``auto``, ``namespace`` or ``none``; blocking:
    probes). ``namespace`` where none can be made raises ``IsolationError``."""
    data_dir = data_dir.absolute()
    if setting == "none":
        return Isolation(IsolationMode.NONE, data_dir, "turned off by the setting")
    with contextlib.suppress(OSError):
        data_dir.mkdir(parents=True, exist_ok=True)
    reason = probe(data_dir)
    if reason is None:
        return Isolation(IsolationMode.NAMESPACE, data_dir)
    if setting == "namespace":
        raise IsolationError(reason)
    return Isolation(IsolationMode.NONE, data_dir, reason)
