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

from orchest_service.project_tree import Kind, link_inside, walk

FICLONE = 0x40049409
"""Linux ioctl: make the destination file a copy-on-write clone of the source."""
_NO_REFLINK = {errno.EOPNOTSUPP, errno.EXDEV, errno.EINVAL, errno.ENOTTY, errno.ENOSYS}


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
    reflink = [True]
    for entry in walk(src_root, ignore=ignore):
        target = dst_root / entry.relative
        if entry.kind is Kind.DIRECTORY:
            target.mkdir()
        elif entry.kind is Kind.LINK:
            _copy_link(src_root, entry.path, target, stats)
        elif entry.kind is Kind.FILE:
            _copy_file(entry.path, target, stats, reflink)
        else:
            stats.skipped.append(str(entry.relative))


def _copy_link(src_root: Path, path: Path, target: Path, stats: TreeStats) -> None:
    """Keep a symlink that stays inside the tree; leave out one that leaves it."""
    if not link_inside(src_root, path):
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
