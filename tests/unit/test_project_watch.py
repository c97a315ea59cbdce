"""The pure part of the project watcher: which project a changed path is in."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchest_scheduler.project_watch import change_event, changes_by_project
from orchest_schemas.events import MAX_CHANGED_PATHS

ROOTS = {
    Path("/projects"): "",
    Path("/projects/a"): "A",
    Path("/projects/b"): "B",
    Path("/repos/mine"): "M",
    Path("/repos/mine/inner"): "I",
}


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        (["/projects/a/p.orchest"], {"A": ["p.orchest"]}),
        (["/projects/a/x/y.py", "/projects/a/p.orchest"], {"A": ["p.orchest", "x/y.py"]}),
        (["/projects/a/p.orchest", "/projects/b/q.sh"], {"A": ["p.orchest"], "B": ["q.sh"]}),
        (["/repos/mine/inner/n.ipynb"], {"I": ["n.ipynb"]}),
        (["/repos/mine/top.py"], {"M": ["top.py"]}),
        (["/projects/new/file.txt"], {"": ["new/file.txt"]}),
        (["/projects/a"], {"": ["a"]}),
        (["/elsewhere/x"], {}),
        (["/projects/ab/x"], {"": ["ab/x"]}),
    ],
    ids=[
        "one",
        "sorted",
        "two-projects",
        "deepest",
        "outer",
        "unknown-folder",
        "root-itself",
        "outside",
        "prefix-is-not-a-parent",
    ],
)
def test_changes_by_project(changed: list[str], expected: dict[str, list[str]]) -> None:
    assert changes_by_project(ROOTS, changed) == expected


def test_the_event_lists_pipelines_and_is_bounded() -> None:
    paths = [f"f{i:04d}.py" for i in range(MAX_CHANGED_PATHS + 5)] + ["z.orchest"]
    event = change_event("A", paths)
    assert len(event.paths) == MAX_CHANGED_PATHS and event.truncated
    assert event.pipelines == ["z.orchest"]
    small = change_event("A", ["a.orchest", "b.py"])
    assert small.pipelines == ["a.orchest"] and not small.truncated
