"""The runner's own folder (on a tmpfs, else in the temporary directory), and
the removal of the folders of runners that died.

Every attempt's scratch folder and the kernel pool's folder are made in the
runner process's folder (``orchest-runner-*``), which the process holds an
exclusive ``flock`` on for its whole life. The kernel drops such a lock when
the process ends, however it ends (``kill -9`` too), so a starting runner
removes every such folder whose lock it can take: what runners killed in
the middle of steps left behind. A live runner's lock is never free.

The folder is made under a hidden name, locked, then renamed to the name
that others look at, so no runner ever sees it unlocked. A runner that stops
removes it (``release``; the last one, when a process runs several).

An attempt's scratch folder is made and removed on the event loop, a few
system calls each (``attempt_folder``, ``remove_attempt_folder``): what an
attempt leaves in it is its ``pipeline.json`` (and a pooled kernel's mount
point). A
thread hop per attempt for its removal cost more than the removal itself
(the hop's task and future, and the GIL handed between the two threads),
most of all on a loaded host; a folder that holds more than that is still
removed in a thread.

Where: on a tmpfs when one is there for the runner (``$XDG_RUNTIME_DIR``,
then ``/dev/shm``: writable, with ``MIN_FREE_BYTES`` free), else in the
temporary directory; an explicit ``TMPDIR`` is always followed. A directory
made and removed on a tmpfs costs a few microseconds of CPU, on this
machine's ext4 ``/tmp`` 0.16-0.24 ms, and each attempt makes and removes
one (``docs/performance.md``). What lands there is small and bounded by the
attempts running: each attempt's ``pipeline.json`` (the definition, under
the bus's message size), a notebook kernel's connection file, the mount
points of pooled kernels and of the view holder; a step's own files never
do (its working directory is in the project, its output goes to the log,
its ``TMPDIR`` is the runner's).
"""

from __future__ import annotations

import fcntl
import itertools
import logging
import os
import shutil
import tempfile
import threading
from pathlib import Path

logger = logging.getLogger(__name__)

PREFIX = "orchest-runner-"
_MAKING = ".orchest-runner-new-"
MIN_FREE_BYTES = 256 * 2**20
"""A tmpfs with less free is not used (a container's default ``/dev/shm``
is 64 MiB)."""

_held: tuple[Path, int] | None = None
"""This process's folder and the descriptor holding its lock."""
_users = 0
"""The runners of this process serving now (``hold``, ``release``)."""
_lock = threading.Lock()
"""``hold`` and ``release`` run in threads, attempts call ``runner_directory``
on the loop."""
_attempts = itertools.count()
"""Numbers the attempts' folders of this process."""
ENTRIES_ON_THE_LOOP = 8
"""The most entries an attempt's folder may hold to be removed on the loop."""


def runner_directory() -> Path:
    """This process's folder, made and locked at the first call. Several
    runners in one process (tests) share it: the last to stop removes it."""
    held = _held
    if held is not None and held[0].is_dir():
        return held[0]
    with _lock:
        return _made()


def _made() -> Path:
    """The folder, made if there is none (under ``_lock``)."""
    global _held
    if _held is None or not _held[0].is_dir():
        made = Path(tempfile.mkdtemp(prefix=_MAKING, dir=base_directory()))
        fd = os.open(made, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # new: nobody else has it
        final = made.with_name(PREFIX + made.name.removeprefix(_MAKING))
        os.rename(made, final)
        if _held is not None:
            os.close(_held[1])
        _held = (final, fd)
    return _held[0]


def attempt_folder(label: str) -> Path:
    """A new folder ``<label>-<n>`` for one attempt in the runner's folder
    (made again if it was removed). The runner's folder is its process's
    own, so a counter names it: one ``mkdir``, no random name."""
    held = _held
    if held is not None:
        path = f"{held[0]}/{label}-{next(_attempts)}"
        try:
            os.mkdir(path, 0o700)
            return Path(path)
        except OSError:  # the runner's folder is gone, or a name was taken: below
            pass
    return Path(tempfile.mkdtemp(prefix=f"{label}-", dir=runner_directory()))


def remove_attempt_folder(folder: Path) -> bool:
    """Remove an attempt's folder if it holds only files and empty folders,
    at most ``ENTRIES_ON_THE_LOOP`` of them (what an attempt leaves: its
    ``pipeline.json``, a pooled kernel's mount point); False, with the folder left
    as it is or in part, when it holds more (for ``shutil.rmtree`` in a
    thread)."""
    try:
        with os.scandir(folder) as found:
            entries = list(itertools.islice(found, ENTRIES_ON_THE_LOOP + 1))
        if len(entries) > ENTRIES_ON_THE_LOOP:
            return False
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                os.rmdir(entry.path)
            else:
                os.unlink(entry.path)
        os.rmdir(folder)
    except FileNotFoundError:  # gone already (the runner's folder was removed)
        return not os.path.lexists(folder)
    except OSError:  # a folder not empty, a mount point here: for rmtree
        return False
    return True


def base_directory() -> Path:
    """Where runner folders are made: a tmpfs for the runner if there is one
    (module docstring), else the temporary directory."""
    if not os.environ.get("TMPDIR"):
        for candidate in _tmpfs_candidates():
            if _usable_tmpfs(candidate):
                return candidate
    return Path(tempfile.gettempdir())


def _tmpfs_candidates() -> list[Path]:
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    return [*([Path(runtime)] if runtime else []), Path("/dev/shm")]


def _usable_tmpfs(folder: Path) -> bool:
    try:
        free = os.statvfs(folder)
    except OSError:
        return False
    if free.f_bavail * free.f_frsize < MIN_FREE_BYTES or not os.access(folder, os.W_OK | os.X_OK):
        return False
    return filesystem_type(folder) == "tmpfs"


def filesystem_type(path: Path) -> str | None:
    """The type of the file system ``path`` is on (``/proc/self/mountinfo``:
    the last mount on the longest mount point holding it)."""
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    target = os.path.realpath(path)
    found: tuple[int, str] | None = None
    for line in lines:
        fields, _, rest = line.partition(" - ")
        point = fields.split()[4].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and (found is None or len(point) >= found[0]):
            found = (len(point), rest.split()[0])
    return None if found is None else found[1]


def hold() -> Path:
    """The folder, for a runner that starts serving (blocking: run it in a
    thread)."""
    global _users
    with _lock:
        _users += 1
        return _made()


def release() -> None:
    """A runner stopped; the last of the process removes the folder and
    drops its lock (blocking: run it in a thread)."""
    global _users, _held
    with _lock:
        _users = max(0, _users - 1)
        if _users or _held is None:
            return
        folder, fd = _held
        _held = None
        shutil.rmtree(folder, ignore_errors=True)
        os.close(fd)


def remove_dead_runners_directories() -> list[Path]:
    """Remove the folders of runner processes that ended (their lock is free),
    wherever runners make them (``base_directory``, every tmpfs it may choose,
    the temporary directory); returns them. Run it in a thread."""
    removed = []
    bases = dict.fromkeys([base_directory(), *_tmpfs_candidates(), Path(tempfile.gettempdir())])
    folders = [folder for base in bases for folder in base.glob(PREFIX + "*")]
    for folder in folders:
        if _held is not None and folder == _held[0]:
            continue
        try:
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:  # removed meanwhile, or not a folder
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # its runner lives
            os.close(fd)
            continue
        try:
            shutil.rmtree(folder, ignore_errors=True)
        finally:
            os.close(fd)
        removed.append(folder)
    return removed
