"""The view holder: a small process holding the mount namespace the process
executor's step views live in (``isolation.py``). Standard library only: it is
run as a script (``python -I -S holder_main.py``), not imported.

At start it enters a mount namespace of its own (and a user namespace mapping
its own user when it is not root) whose mounts never reach the host (host
mounts still arrive: ``/`` is a slave), and prints ``{"ready": pid}``. Then
one JSON request per line on stdin, one JSON reply per line on stdout
(``{"ok": true}`` or ``{"ok": false, "error": ...}``):

- ``{"op": "make", "root": ..., "binds": [[source, name, read_only], ...]}``:
  a tmpfs on ``root`` (an empty folder) holding a bind of every top-level
  entry of ``/`` (symbolic links copied) and each ``source`` at ``/name``;
- ``{"op": "prepare", "root": ..., "places": [[name, is_dir], ...]}``: the
  same tmpfs with an empty mount point at ``/name`` for each place (a pooled
  kernel starts in it before its step is known: ``kernel_pool.py``);
- ``{"op": "fill", "root": ..., "binds": [[source, name, read_only], ...]}``:
  bind each ``source`` on its mount point of a prepared root (the process
  already in it sees them at once: it shares this namespace);
- ``{"op": "keep", "name": ..., "binds": [...]}``: a view as ``make``
  makes it, on a folder ``name`` of the holder's own tmpfs (below), but
  with each read-only file copied into it rather than bound (the view
  outlives the attempt whose file it is) and its top level read-only:
  kept for many attempts (``views.py``), nothing of it on the host;
- ``{"op": "drop", "root": ...}``: detach it (the steps still in it keep
  their view until they end); a kept view's folder is removed as well.

Started with a folder (its first argument), the holder mounts a tmpfs of
its own on it, unbindable (no view holds a copy of it or of what it
holds): the kept views live there, seen from the host as an empty folder.
It ends when stdin closes (its runner is gone), and its views with it.
"""

import contextlib
import ctypes
import ctypes.util
import json
import os
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_UNBINDABLE = 0x20000
MS_SLAVE = 0x80000
MNT_DETACH = 0x2

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_libc.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_char_p,
]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    _check(
        _libc.mount(
            os.fsencode(source) if source else None,
            os.fsencode(target),
            fstype.encode() if fstype else None,
            flags,
            data.encode() if data else None,
        ),
        f"mount {source or fstype} on {target}",
    )


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def enter_namespace() -> None:
    uid, gid = os.getuid(), os.getgid()
    _check(_libc.unshare(CLONE_NEWNS | (CLONE_NEWUSER if uid else 0)), "unshare")
    if uid:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
    _mount(None, "/", None, MS_REC | MS_SLAVE)


def _place(target: str, is_dir: bool) -> None:
    if is_dir:
        os.mkdir(target)
    else:
        os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))


def make(root: str, binds: list[list[object]]) -> None:
    prepare(root, [[name, os.path.isdir(str(source))] for source, name, _ in binds])
    fill(root, binds)


def prepare(root: str, places: list[list[object]]) -> None:
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
    # A view lives under one of the entries every view binds recursively (the
    # scratch directory, in /tmp or elsewhere): unbindable, it is left out of
    # the views made after it. Else each view would hold a copy of every view
    # alive at its making, copies included: with pooled kernels always alive,
    # the namespace's mounts grew geometrically until mount(2) failed with
    # ENOSPC ("No space left on device") and every step with it.
    _mount(None, root, None, MS_UNBINDABLE)
    provided = {str(name) for name, _ in places}
    with os.scandir("/") as listing:
        for entry in listing:
            if entry.name in provided:
                continue
            target = os.path.join(root, entry.name)
            if entry.is_symlink():
                os.symlink(os.readlink(entry.path), target)
            elif entry.is_dir() or entry.is_file():
                _place(target, entry.is_dir())
                _mount(entry.path, target, None, MS_BIND | MS_REC)
    for name, is_dir in places:
        _place(os.path.join(root, str(name)), bool(is_dir))


def fill(root: str, binds: list[list[object]]) -> None:
    for source, name, read_only in binds:
        target = os.path.join(root, str(name))
        _mount(str(source), target, None, MS_BIND | MS_REC)
        if read_only:
            _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY)


def keep(name: str, binds: list[list[object]]) -> None:
    if not BASE or os.sep in name or name in ("", ".", ".."):
        raise ValueError(f"no place to keep a view named {name!r}")
    root = os.path.join(BASE, name)
    os.mkdir(root)
    try:
        prepare(root, [[place, os.path.isdir(str(source))] for source, place, _ in binds])
        # A read-only file is copied into the view (it outlives the attempt
        # whose file it was given, and that attempt's folder); the rest bound.
        for source, place, read_only in binds:
            if read_only and os.path.isfile(str(source)):
                _copy(str(source), os.path.join(root, str(place)))
            else:
                fill(root, [[source, place, read_only]])
        # What a step writes at the top level would outlive it and be seen by
        # the steps after it: nothing may be (its binds stay as they are).
        _mount(None, root, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    except OSError:
        _libc.umount2(os.fsencode(root), MNT_DETACH)  # what was mounted, if anything
        with contextlib.suppress(OSError):
            os.rmdir(root)
        raise


def _copy(source: str, target: str) -> None:
    with open(source, "rb") as given, open(target, "wb") as copy:
        copy.write(given.read())
    os.chmod(target, 0o444)


def drop(root: str) -> None:
    _check(_libc.umount2(os.fsencode(root), MNT_DETACH), f"umount {root}")
    if BASE and os.path.dirname(root) == BASE:
        os.rmdir(root)


def own_base(folder: str) -> str:
    """The holder's tmpfs on ``folder`` (the kept views' place)."""
    _mount("tmpfs", folder, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
    _mount(None, folder, None, MS_UNBINDABLE)
    return os.path.normpath(folder)


BASE = ""
"""Where kept views live (``own_base``); empty: none are kept."""


def serve() -> None:
    for line in sys.stdin:
        try:
            request = json.loads(line)
            if request["op"] == "make":
                make(request["root"], request["binds"])
            elif request["op"] == "prepare":
                prepare(request["root"], request["places"])
            elif request["op"] == "fill":
                fill(request["root"], request["binds"])
            elif request["op"] == "keep":
                keep(str(request["name"]), request["binds"])
            else:
                drop(request["root"])
            reply: dict[str, object] = {"ok": True}
        except (OSError, ValueError, KeyError) as exc:
            reply = {"ok": False, "error": str(exc)}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    try:
        enter_namespace()
        if len(sys.argv) > 1:
            BASE = own_base(sys.argv[1])
    except OSError as exc:
        sys.stdout.write(json.dumps({"error": str(exc)}) + "\n")
        sys.exit(1)
    sys.stdout.write(json.dumps({"ready": os.getpid()}) + "\n")
    sys.stdout.flush()
    serve()
