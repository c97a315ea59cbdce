"""Project snapshots and run workspaces of jobs.

A job copies its project once, when it is created (``take_snapshot``): every
file except what ``.gitignore`` files ignore (the root's and nested ones, as
git reads them) and ``.git`` itself. Each run of the job then gets its own
workspace made from the snapshot (``make_workspace``), so runs never see each
other's outputs nor later edits of the project. A workspace is a reflink
(copy-on-write clone: no data copied until a file is written) where the
filesystem can (btrfs, XFS, bcachefs), else a plain copy. Hard links are not
used: a step that rewrites an input in place (``open(path, "w")``) would
rewrite the snapshot and every other run's copy with it.

Both are built in a temporary sibling directory and renamed into place, so a
crash leaves no half-made snapshot or workspace under the final name.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

FICLONE = 0x40049409
"""Linux ioctl: make the destination file a copy-on-write clone of the source."""
_NO_REFLINK = {errno.EOPNOTSUPP, errno.EXDEV, errno.EINVAL, errno.ENOTTY, errno.ENOSYS}
IGNORE_FILE = ".gitignore"


@dataclass
class TreeStats:
    files: int = 0
    bytes: int = 0
    reflinked: int = 0
    skipped: list[str] = field(default_factory=list)
    """Paths left out: symlinks leading outside the tree, special files."""


def take_snapshot(project_dir: Path, dest: Path) -> TreeStats:
    """Copy the project to ``dest`` (which must not exist), honouring ``.gitignore``."""
    return _build(project_dir.resolve(), dest, ignore=True)


def make_workspace(snapshot: Path, dest: Path) -> TreeStats:
    """A run's private copy of the snapshot; nothing is done if it exists."""
    if dest.is_dir():
        return TreeStats()
    return _build(snapshot, dest, ignore=False)


def _build(source: Path, dest: Path, *, ignore: bool) -> TreeStats:
    """Copy ``source`` to a temporary sibling of ``dest``, then rename it into place."""
    tmp = _temporary_sibling(dest)
    stats = TreeStats()
    try:
        tmp.mkdir(parents=True)
        _copy_tree(source, tmp, stats, ignore=ignore)
        os.replace(tmp, dest)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not ignore and dest.is_dir():  # made meanwhile by another replica's start
            return TreeStats()
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return stats


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _temporary_sibling(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.tmp-{uuid.uuid4().hex[:8]}")


def _copy_tree(src_root: Path, dst_root: Path, stats: TreeStats, *, ignore: bool) -> None:
    # Each directory's patterns: those of the .gitignore files from the root
    # down to it, each matched against paths relative to its own directory.
    rules: dict[Path, list[tuple[Path, pathspec.GitIgnoreSpec]]] = {src_root: []}
    reflink = [True]
    for current, dirnames, filenames in os.walk(src_root):
        here = Path(current)
        inherited = rules.pop(here, [])
        if ignore and IGNORE_FILE in filenames:
            lines = (here / IGNORE_FILE).read_text(errors="replace").splitlines()
            inherited = [*inherited, (here, pathspec.GitIgnoreSpec.from_lines(lines))]
        relative_dir = here.relative_to(src_root)
        (dst_root / relative_dir).mkdir(exist_ok=True)
        kept_dirs = []
        for name in sorted(dirnames):
            path = here / name
            if ignore and (name == ".git" or _ignored(path, inherited, is_dir=True)):
                continue
            if path.is_symlink():
                _copy_link(src_root, path, dst_root / relative_dir / name, stats)
                continue
            kept_dirs.append(name)
            rules[path] = inherited
        dirnames[:] = kept_dirs
        for name in sorted(filenames):
            path = here / name
            if ignore and _ignored(path, inherited, is_dir=False):
                continue
            target = dst_root / relative_dir / name
            if path.is_symlink():
                _copy_link(src_root, path, target, stats)
            elif path.is_file():
                _copy_file(path, target, stats, reflink)
            else:
                stats.skipped.append(str(path.relative_to(src_root)))


def _ignored(path: Path, rules: list[tuple[Path, pathspec.GitIgnoreSpec]], *, is_dir: bool) -> bool:
    for base, spec in rules:
        relative = path.relative_to(base).as_posix()
        if spec.match_file(relative + "/" if is_dir else relative):
            return True
    return False


def _copy_link(src_root: Path, path: Path, target: Path, stats: TreeStats) -> None:
    """Keep a symlink that stays inside the tree; leave out one that leaves it."""
    try:
        path.resolve(strict=True).relative_to(src_root)
    except (OSError, ValueError):
        stats.skipped.append(str(path.relative_to(src_root)))
        return
    target.symlink_to(os.readlink(path))


def _copy_file(path: Path, target: Path, stats: TreeStats, reflink: list[bool]) -> None:
    stats.files += 1
    stats.bytes += path.stat().st_size
    if reflink[0]:
        with open(path, "rb") as src, open(target, "wb") as dst:
            try:
                fcntl.ioctl(dst.fileno(), FICLONE, src.fileno())
            except OSError as exc:
                if exc.errno not in _NO_REFLINK:
                    raise
                reflink[0] = False  # this filesystem cannot: plain copies from now on
            else:
                stats.reflinked += 1
                shutil.copystat(path, target)
                return
    shutil.copyfile(path, target)
    shutil.copystat(path, target)
