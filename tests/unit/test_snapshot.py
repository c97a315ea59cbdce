"""Job snapshots honour .gitignore; workspaces are private copies."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from orchest_scheduler import snapshot
from orchest_scheduler.snapshot import make_workspace, take_snapshot


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink()}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "data" / "raw").mkdir(parents=True)
    (root / "src").mkdir()
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref")
    (root / ".gitignore").write_text("*.log\n/data/raw/\n!keep.log\n")
    (root / "a.py").write_text("print('a')")
    (root / "run.log").write_text("noise")
    (root / "keep.log").write_text("kept")
    (root / "data" / "raw" / "huge.csv").write_text("1,2")
    (root / "data" / "small.csv").write_text("3,4")
    (root / "src" / ".gitignore").write_text("build/\n")
    (root / "src" / "build").mkdir()
    (root / "src" / "build" / "out.o").write_text("obj")
    (root / "src" / "lib.py").write_text("x = 1")
    (root / "src" / "build.py").write_text("# not the build dir")
    (root / "link.py").symlink_to("a.py")
    (root / "escape").symlink_to("/etc/hostname")
    return root


def test_a_snapshot_leaves_out_what_gitignore_and_git_leave_out(
    project: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "snap"
    stats = take_snapshot(project, dest)
    assert tree(dest) == {
        ".gitignore",
        "a.py",
        "keep.log",
        "data/small.csv",
        "src/.gitignore",
        "src/lib.py",
        "src/build.py",
        "link.py",
    }
    assert os.readlink(dest / "link.py") == "a.py"
    assert stats.skipped == ["escape"]  # a link leading out of the project
    assert not list(tmp_path.glob(".snap.tmp-*"))


def test_a_failed_snapshot_leaves_nothing_under_its_name(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "snap"
    copies = []

    def copy_then_fail(src: Path, dst: Path) -> None:
        copies.append(src)
        if len(copies) == 3:
            raise OSError(28, "No space left on device")
        shutil.copyfile(src, dst)

    monkeypatch.setattr(snapshot.shutil, "copyfile", copy_then_fail)
    with pytest.raises(OSError, match="No space"):
        take_snapshot(project, dest)
    assert not dest.exists()
    assert not list(tmp_path.glob(".snap.tmp-*"))


def test_workspaces_are_private_copies_of_the_snapshot(project: Path, tmp_path: Path) -> None:
    snap = tmp_path / "snap"
    take_snapshot(project, snap)
    one, two = tmp_path / "runs" / "one", tmp_path / "runs" / "two"
    make_workspace(snap, one)
    make_workspace(snap, two)
    with open(one / "a.py", "w") as f:  # rewritten in place, as steps do
        f.write("changed")
    (one / "output.txt").write_text("mine")
    assert (snap / "a.py").read_text() == "print('a')"
    assert (two / "a.py").read_text() == "print('a')"
    assert not (two / "output.txt").exists()
    assert os.stat(one / "a.py").st_ino != os.stat(snap / "a.py").st_ino
    make_workspace(snap, one)  # again: already there, left as it is
    assert (one / "output.txt").read_text() == "mine"
