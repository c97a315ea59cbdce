"""Which build folders something uses now: a live process of this host (a
step, a kernel, a shell in it) or a live process session's kernelspec (a
kernel not started yet). Reads ``/proc`` and the sessions' files: blocking,
run it in a thread (``docs/environments.md#process-builds``).

A process uses a folder when any of these is under it: its executable, its
working directory, a file it holds open or has mapped (an extension
module), an absolute path among its arguments (a venv's ``bin/python`` is a
symlink to the base interpreter, so the executable alone does not tell; the
path it was started by does), or its ``VIRTUAL_ENV``. Processes of other
users whose files this one may not read are passed over.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Collection, Iterable, Iterator
from pathlib import Path

PROC = Path("/proc")


def users(
    folders: Collection[Path], kernelspecs: Iterable[Path] = (), proc: Path = PROC
) -> dict[Path, str]:
    """The folders of ``folders`` in use, each with what uses it (for the log)."""
    prefixes = {folder: _forms(folder) for folder in folders}
    found: dict[Path, str] = {}

    def take(paths: Iterable[str], who: str) -> None:
        for path in paths:
            for folder, forms in prefixes.items():
                if folder not in found and _under(path, forms):
                    found[folder] = who

    for spec in kernelspecs:
        take(_kernelspec_paths(spec), f"the kernelspec {spec}")
    own = os.getpid()
    for entry in _pids(proc):
        if len(found) == len(prefixes):
            break
        if int(entry.name) != own:
            take(_paths_of(entry), f"process {entry.name}")
    return found


def _forms(folder: Path) -> tuple[str, ...]:
    """The folder as given and as resolved (``/proc`` shows resolved paths)."""
    given = os.path.normpath(os.path.abspath(folder))
    return tuple({given, os.path.realpath(given)})


def _under(path: str, forms: tuple[str, ...]) -> bool:
    return any(path == form or path.startswith(form + os.sep) for form in forms)


def _pids(proc: Path) -> Iterator[Path]:
    try:
        entries = list(os.scandir(proc))
    except OSError:
        return
    for entry in entries:
        if entry.name.isdigit():
            yield Path(entry.path)


def _paths_of(process: Path) -> list[str]:
    """What of a process may name a folder; empty for one that ended or that
    this user may not read."""
    cwd = _readlink(process / "cwd")
    paths = [*_readlink(process / "exe"), *cwd]
    with contextlib.suppress(OSError, ValueError):
        for fd in os.scandir(process / "fd"):
            paths += _readlink(Path(fd.path))
    with contextlib.suppress(OSError, ValueError):
        for line in (process / "maps").read_text(errors="replace").splitlines():
            mapped = line.split(maxsplit=5)
            if len(mapped) == 6 and mapped[5].startswith("/"):
                paths.append(mapped[5])
    with contextlib.suppress(OSError, ValueError):
        args = [os.fsdecode(a) for a in (process / "cmdline").read_bytes().split(b"\0")]
        if args and os.sep in args[0]:  # what it was started by, maybe relative
            paths.append(os.path.normpath(os.path.join(cwd[0] if cwd else os.sep, args[0])))
        paths += [os.path.normpath(a) for a in args[1:] if a.startswith("/")]
    with contextlib.suppress(OSError, ValueError):
        for variable in (process / "environ").read_bytes().split(b"\0"):
            if variable.startswith(b"VIRTUAL_ENV="):
                paths.append(os.path.normpath(os.fsdecode(variable[len(b"VIRTUAL_ENV=") :])))
    return paths


def _readlink(link: Path) -> list[str]:
    try:
        return [os.readlink(link)]
    except OSError:
        return []


def _kernelspec_paths(spec: Path) -> list[str]:
    """The absolute paths among a kernelspec's ``argv`` (its interpreter)."""
    with contextlib.suppress(OSError, ValueError):
        loaded = json.loads(spec.read_text())
        argv = loaded.get("argv") or [] if isinstance(loaded, dict) else []
        return [os.path.normpath(a) for a in argv if isinstance(a, str) and a.startswith("/")]
    return []
