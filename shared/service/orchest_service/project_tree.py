"""What of a project's folder is copied out of it (a job's snapshot, a docker
environment build's context): every entry but what ``.gitignore`` files
ignore (the root's and nested ones, as git reads them) and ``.git`` itself.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import pathspec

IGNORE_FILE = ".gitignore"


class Kind(Enum):
    DIRECTORY = "directory"
    FILE = "file"
    LINK = "link"
    """A symbolic link (to a file or a folder: never followed)."""
    OTHER = "other"
    """A socket, a pipe, a device: nothing to copy."""


@dataclass(frozen=True)
class Entry:
    path: Path
    relative: Path
    """``path`` relative to the walked folder."""
    kind: Kind


def walk(root: Path, *, ignore: bool = True) -> Iterator[Entry]:
    """The entries under ``root`` (a folder before what it holds, by name);
    with ``ignore``, none that ``.gitignore`` files ignore, and no ``.git``."""
    # Each directory's patterns: those of the .gitignore files from the root
    # down to it, each matched against paths relative to its own directory.
    rules: dict[Path, list[tuple[Path, pathspec.GitIgnoreSpec]]] = {root: []}
    for current, dirnames, filenames in os.walk(root):
        here = Path(current)
        inherited = rules.pop(here, [])
        if ignore and IGNORE_FILE in filenames:
            lines = (here / IGNORE_FILE).read_text(errors="replace").splitlines()
            inherited = [*inherited, (here, pathspec.GitIgnoreSpec.from_lines(lines))]
        kept_dirs = []
        for name in sorted(dirnames):
            path = here / name
            if ignore and (name == ".git" or _ignored(path, inherited, is_dir=True)):
                continue
            if path.is_symlink():
                yield Entry(path, path.relative_to(root), Kind.LINK)
                continue
            yield Entry(path, path.relative_to(root), Kind.DIRECTORY)
            kept_dirs.append(name)
            rules[path] = inherited
        dirnames[:] = kept_dirs
        for name in sorted(filenames):
            path = here / name
            if ignore and _ignored(path, inherited, is_dir=False):
                continue
            if path.is_symlink():
                kind = Kind.LINK
            elif path.is_file():
                kind = Kind.FILE
            else:
                kind = Kind.OTHER
            yield Entry(path, path.relative_to(root), kind)


def link_inside(root: Path, link: Path) -> bool:
    """Whether the symbolic link ``link`` leads to an entry under ``root``
    (``root`` resolved)."""
    try:
        link.resolve(strict=True).relative_to(root)
    except (OSError, ValueError):
        return False
    return True


def _ignored(path: Path, rules: list[tuple[Path, pathspec.GitIgnoreSpec]], *, is_dir: bool) -> bool:
    for base, spec in rules:
        relative = path.relative_to(base).as_posix()
        if spec.match_file(relative + "/" if is_dir else relative):
            return True
    return False
