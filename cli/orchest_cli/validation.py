"""``orchest validate``: every problem of a pipeline file, as the API lists
them. The JSON and the pipeline's shape are checked here, with the API's own
model; what needs the stack (connections, cycles, step files on disk) is the
stack's check of its projects' pipelines, asked when the file is in one."""

from __future__ import annotations

from pathlib import Path

import httpx

from orchest_schemas.projects import PipelineList, ProjectList

from .api import Api
from .errors import CliError
from .pipeline_file import read_definition, shape_problems

Problem = tuple[str, str]


def validate_file(path: Path, base_url: str) -> tuple[list[Problem], bool]:
    """The file's problems, and whether the stack's full check was among them."""
    problems = shape_problems(read_definition(path))
    if problems:
        return problems, False
    try:
        return _stack_problems(path, base_url)
    except (CliError, httpx.HTTPError):  # no stack answering: the offline checks are all
        return [], False


def _stack_problems(path: Path, base_url: str) -> tuple[list[Problem], bool]:
    resolved = path.resolve()
    with Api(base_url, timeout=10.0) as api:
        for project in api.get("/api/projects", ProjectList).projects:
            root = Path(project.path).resolve()
            if not resolved.is_relative_to(root):
                continue
            relative = resolved.relative_to(root).as_posix()
            listed = api.get(f"/api/projects/{project.uuid}/pipelines", PipelineList)
            for summary in listed.pipelines:
                if summary.path == relative:
                    return [(_where(p.loc), p.msg) for p in summary.problems], True
    return [], False


def _where(loc: list[str | int]) -> str:
    parts = [str(part) for part in loc]
    if parts[:1] == ["pipeline_definition"]:
        parts = parts[1:]
    return ".".join(parts)
