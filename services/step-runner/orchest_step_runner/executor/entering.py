"""A thread of the runner inside a step's view for the length of a spawn
(``spawn.start``), instead of starting the step through ``nsenter``.

``nsenter`` is a program of its own between the runner's ``vfork`` and the
step's: its ``exec``, dynamic linking (``libselinux``, ``pcre2``), ``setns``,
``chroot`` and a second ``exec``; about 1 ms of a step's wall time here
(``docs/performance.md``, "A step's start inside its view"). Here the
thread calling ``Popen`` enters the view holder's mount namespace itself
(``setns``; allowed to one thread of a process once it has its own root
and working directory, ``unshare(CLONE_FS)``), ``chroot``s into the view's
root, ``vfork``s the step (which inherits both), and goes back to the
runner's own namespace, root and working directory. Only the calling
thread moves: the other threads of the runner never leave the host's
view, and this one only for the ``Popen`` (no ``await`` in between).

Only as root: a holder in a user namespace (a runner that is not root)
cannot be joined by one thread of a process that has several
(``setns`` of a user namespace needs a single-threaded caller); there
``nsenter`` starts the steps as before (``isolation.py`` decides, after
checking this way works at start-up).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

CLONE_FS = 0x00000200
CLONE_NEWNS = 0x00020000

_libc = ctypes.CDLL(None, use_errno=True)
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]


class EntryError(OSError):
    """The calling thread could not enter the view (it is back where it was)."""


@dataclass(frozen=True)
class Within:
    """A view to start a step in: an open descriptor of the holder's mount
    namespace, and the view's root in that namespace."""

    namespace: int
    root: Path


class _Thread(threading.local):
    own: int = -1
    """This thread's own mount namespace, open."""


_thread = _Thread()


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise EntryError(errno, f"{what}: {os.strerror(errno)}")


def _own_namespace() -> int:
    """This thread's mount namespace (opened once per thread), its root and
    working directory made its own. Each time: a thread started from this
    one since shares them with it again (``setns`` would refuse), and the
    call costs nothing when none does."""
    _check(_libc.unshare(CLONE_FS), "unshare(CLONE_FS)")
    if _thread.own < 0:
        _thread.own = os.open("/proc/thread-self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    return _thread.own


@contextlib.contextmanager
def entered(within: Within | None) -> Iterator[None]:
    """This thread in ``within`` (its root the view's) while the block runs,
    then back where it was; ``None``: stays. ``EntryError``: it could not
    enter (and is back)."""
    if within is None:
        yield
        return
    own = _own_namespace()
    top = os.open("/", os.O_PATH | os.O_CLOEXEC)
    here = os.open(".", os.O_PATH | os.O_CLOEXEC)
    # No collection inside: a finalizer it ran would work with the view's paths.
    collecting = gc.isenabled()
    gc.disable()
    try:
        _check(_libc.setns(within.namespace, CLONE_NEWNS), "setns into the view holder's")
        try:
            try:
                os.chroot(within.root)
            except OSError as exc:
                raise EntryError(exc.errno, f"chroot {within.root}: {exc.strerror}") from exc
            yield
        finally:
            _back(own, top, here)
    finally:
        if collecting:
            gc.enable()
        os.close(here)
        os.close(top)


def _back(own: int, top: int, here: int) -> None:
    """This thread back in its namespace (``setns`` resets the root and
    working directory to the namespace's), then its root and working
    directory as they were. A thread that cannot go back would go on inside
    a step's view: the runner ends at once instead (its guardian ends its
    steps; the views are the holder's)."""
    try:
        _check(_libc.setns(own, CLONE_NEWNS), "setns back")
        os.fchdir(top)
        os.chroot(".")
        os.fchdir(here)
    except OSError:
        logger.critical("a thread of the runner cannot leave a step's view", exc_info=True)
        logging.shutdown()
        os._exit(70)
