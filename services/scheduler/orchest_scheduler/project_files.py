"""The step files of a run on disk: inside the project, present, regular files.

The lexical checks of ``file_path`` (empty, absolute, ``..`` leaving the project)
are ``dag.validate_definition``'s; this module follows symlinks, so a link that
points outside the project is refused even when its path looks harmless.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from orchest_schemas.pipeline import PipelineDefinition

from .dag import UNSAFE_PATH_PROBLEMS, Problem, file_path_problems, step_name

_PROJECT_DIR_LOC = ("run_config", "project_dir")


def check_project_files(
    definition: PipelineDefinition, project_dir: str, step_uuids: Sequence[str]
) -> list[Problem]:
    """Every problem of the project directory, or else of the files of the run's steps.

    Steps that are not in the definition, or whose ``file_path`` already fails the
    lexical checks, are left to ``select_steps`` and ``validate_definition``. A
    file shared by several steps is looked at once."""
    dir_problem = _project_dir_problem(project_dir)
    if dir_problem is not None:
        return [dir_problem]
    root = os.path.realpath(project_dir)
    found_of: dict[str, tuple[str, str] | None] = {}
    problems: list[Problem] = []
    for key in dict.fromkeys(step_uuids):
        step = definition.steps.get(key)
        if step is None:
            continue
        file_path = step.file_path
        if file_path in found_of:
            found = found_of[file_path]
        elif any(p.type in UNSAFE_PATH_PROBLEMS for p in file_path_problems(definition, key)):
            continue  # the same path is unsafe for every step: never in found_of
        else:
            found = found_of[file_path] = _step_file_problem(root, project_dir, file_path)
        if found is not None:
            kind, what = found
            problems.append(
                Problem(
                    ("pipeline_definition", "steps", key, "file_path"),
                    f"The file {file_path!r} of step {step_name(definition, key)} {what}.",
                    kind,
                )
            )
    return problems


def resolve_step_file(project_dir: str, file_path: str) -> Path:
    """The real path of a step file, symlinks followed (the file need not exist).

    Raises ValueError if it lies outside the (resolved) project directory."""
    root = os.path.realpath(project_dir)
    resolved = os.path.realpath(os.path.join(project_dir, file_path))
    if not _inside(resolved, root):
        raise ValueError(f"{file_path!r} resolves to {resolved!r}, outside {root!r}")
    return Path(resolved)


def _inside(path: str, root: str) -> bool:
    """Whether the real path ``path`` is ``root`` or below it."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _project_dir_problem(project_dir: str) -> Problem | None:
    if not os.path.isabs(project_dir):
        return Problem(
            _PROJECT_DIR_LOC,
            f"The project directory {project_dir!r} is not an absolute path.",
            "project_dir_not_absolute",
        )
    kind = _file_kind(Path(project_dir))
    if kind is None:
        return Problem(
            _PROJECT_DIR_LOC,
            f"The project directory {project_dir!r} does not exist.",
            "project_dir_missing",
        )
    if not stat.S_ISDIR(kind):
        return Problem(
            _PROJECT_DIR_LOC,
            f"The project directory {project_dir!r} is not a directory.",
            "project_dir_not_a_directory",
        )
    return None


def _step_file_problem(root: str, project_dir: str, file_path: str) -> tuple[str, str] | None:
    """``(type, what is wrong)`` for one lexically safe file path, or None;
    ``root`` is the project directory's real path. Plain ``os.path`` calls:
    ``pathlib``'s objects cost more than the system calls here, and this runs
    for every file of every run before its answer."""
    if "\0" in file_path:
        return "file_missing", "contains a NUL character and cannot exist"
    resolved = os.path.realpath(os.path.join(project_dir, file_path))
    try:
        kind: int | None = os.stat(resolved).st_mode
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, errno.ENOTDIR):  # ELOOP: a symlink loop
            return "file_missing", "cannot be resolved (a symlink loop?)"
        kind = None
    except ValueError:
        kind = None
    if not _inside(resolved, root):
        return "path_escape", "resolves outside the project through a symlink"
    if kind is None:
        return "file_missing", "does not exist in the project"
    if not stat.S_ISREG(kind):
        return "not_a_file", "is not a regular file"
    return None


def _file_kind(path: Path) -> int | None:
    """The ``st_mode`` of ``path`` (symlinks followed), or None if it cannot be reached."""
    try:
        return path.stat().st_mode
    except (OSError, ValueError):
        return None
