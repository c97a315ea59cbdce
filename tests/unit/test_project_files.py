"""Step files on disk: real temporary projects with files, directories and symlinks."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from orchest_scheduler.dag import Problem
from orchest_scheduler.project_files import check_project_files, resolve_step_file
from orchest_schemas.pipeline import PipelineDefinition


def definition(file_paths: Mapping[str, str]) -> PipelineDefinition:
    """One step per ``{key: file_path}``, titled ``KEY``, with no connections."""
    steps = {
        key: {"uuid": key, "title": key.upper(), "file_path": file_path}
        for key, file_path in file_paths.items()
    }
    return PipelineDefinition.model_validate({"uuid": "p", "steps": steps})


def kinds(problems: list[Problem]) -> list[tuple[tuple[str | int, ...], str]]:
    return [(p.loc, p.type) for p in problems]


def file_loc(key: str) -> tuple[str | int, ...]:
    return ("pipeline_definition", "steps", key, "file_path")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """``project/`` with files, a subdirectory and symlinks; ``outside/`` next to it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.py").write_text("print('secret')\n")
    root = tmp_path / "project"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "a.py").write_text("print('a')\n")
    (root / "sub" / "b.ipynb").write_text("{}\n")
    (root / "sub" / "deeper" / "c.sh").write_text("echo c\n")
    (root / "folder.py").mkdir()
    (root / "out.py").symlink_to(outside / "secret.py")
    (root / "out_relative.py").symlink_to(Path("..") / "outside" / "secret.py")
    (root / "outdir").symlink_to(outside, target_is_directory=True)
    (root / "dangling_out.py").symlink_to(outside / "missing.py")
    (root / "alias.ipynb").symlink_to(Path("sub") / "b.ipynb")
    (root / "sub" / "up.py").symlink_to(root / "a.py")
    (root / "dangling_in.py").symlink_to(root / "nothing.py")
    (root / "loop1.py").symlink_to(root / "loop2.py")
    (root / "loop2.py").symlink_to(root / "loop1.py")
    return root


@pytest.mark.parametrize(
    "file_path",
    [
        "a.py",
        "./a.py",
        "sub/b.ipynb",
        "sub/deeper/c.sh",
        "sub/deeper/../b.ipynb",
        "alias.ipynb",
        "sub/up.py",
    ],
)
def test_files_inside_the_project_are_accepted(project: Path, file_path: str) -> None:
    assert check_project_files(definition({"s": file_path}), str(project), ["s"]) == []


@pytest.mark.parametrize(
    ("file_path", "kind"),
    [
        ("out.py", "path_escape"),
        ("out_relative.py", "path_escape"),
        ("outdir/secret.py", "path_escape"),
        ("dangling_out.py", "path_escape"),
        ("missing.py", "file_missing"),
        ("sub/missing.ipynb", "file_missing"),
        ("nodir/missing.py", "file_missing"),
        ("a.py/x.py", "file_missing"),
        ("dangling_in.py", "file_missing"),
        ("loop1.py", "file_missing"),
        ("folder.py", "not_a_file"),
        ("sub", "not_a_file"),
    ],
)
def test_file_problems(project: Path, file_path: str, kind: str) -> None:
    problems = check_project_files(definition({"s": file_path}), str(project), ["s"])
    assert kinds(problems) == [(file_loc("s"), kind)]
    assert '"S" (s)' in problems[0].msg and repr(file_path) in problems[0].msg


def test_a_symlink_outside_is_named_as_such(project: Path) -> None:
    (problem,) = check_project_files(definition({"s": "out.py"}), str(project), ["s"])
    assert "resolves outside the project through a symlink" in problem.msg


def test_every_run_step_is_checked_and_only_those(project: Path) -> None:
    pipeline = definition(
        {"ok": "a.py", "gone": "gone.py", "dir": "folder.py", "link": "out.py", "idle": "x.py"}
    )
    problems = check_project_files(pipeline, str(project), ["link", "ok", "dir", "gone", "ok"])
    assert kinds(problems) == [
        (file_loc("link"), "path_escape"),
        (file_loc("dir"), "not_a_file"),
        (file_loc("gone"), "file_missing"),
    ]


@pytest.mark.parametrize("file_path", ["", "/etc/passwd.py", "~/a.py", "../outside/secret.py"])
def test_lexically_refused_paths_are_left_to_validation(project: Path, file_path: str) -> None:
    assert check_project_files(definition({"s": file_path}), str(project), ["s"]) == []


def test_steps_not_in_the_definition_are_left_to_selection(project: Path) -> None:
    assert check_project_files(definition({"s": "a.py"}), str(project), ["ghost"]) == []


def test_an_unsupported_extension_is_still_looked_up(project: Path) -> None:
    problems = check_project_files(definition({"s": "notes.txt"}), str(project), ["s"])
    assert kinds(problems) == [(file_loc("s"), "file_missing")]


def test_a_project_dir_reached_through_a_symlink(project: Path, tmp_path: Path) -> None:
    link = tmp_path / "project_link"
    link.symlink_to(project, target_is_directory=True)
    pipeline = definition({"a": "a.py", "b": "alias.ipynb", "c": "out.py"})
    problems = check_project_files(pipeline, str(link), ["a", "b", "c"])
    assert kinds(problems) == [(file_loc("c"), "path_escape")]


@pytest.mark.parametrize(
    ("make_dir", "kind"),
    [
        (lambda tmp: "project", "project_dir_not_absolute"),
        (lambda tmp: "", "project_dir_not_absolute"),
        (lambda tmp: str(tmp / "nowhere"), "project_dir_missing"),
        (lambda tmp: str(tmp / "outside" / "secret.py"), "project_dir_not_a_directory"),
    ],
)
def test_a_bad_project_dir_skips_the_file_checks(
    project: Path, tmp_path: Path, make_dir: Callable[[Path], str], kind: str
) -> None:
    project_dir = make_dir(tmp_path)
    problems = check_project_files(definition({"s": "missing.py"}), project_dir, ["s"])
    assert kinds(problems) == [(("run_config", "project_dir"), kind)]


def test_resolve_step_file(project: Path) -> None:
    real = project.resolve()
    assert resolve_step_file(str(project), "alias.ipynb") == real / "sub" / "b.ipynb"
    assert resolve_step_file(str(project), "sub/up.py") == real / "a.py"
    assert resolve_step_file(str(project), "not/yet.py") == real / "not" / "yet.py"
    with pytest.raises(ValueError, match="outside"):
        resolve_step_file(str(project), "out.py")
    with pytest.raises(ValueError, match="outside"):
        resolve_step_file(str(project), "../outside/secret.py")
