"""Pipeline files (``*.orchest``) in a project folder: found, read, checked,
written. Blocking file I/O: the projects owner calls these in a thread.

The search skips what never holds a user's pipelines (``.git``, hidden
folders, ``node_modules``, virtual environments) and is bounded in depth and
in entries, so a project holding a data set of a million files is answered
quickly, with ``truncated`` set. A file is written atomically (a temporary
file in the same folder, flushed, then renamed over it), so a reader sees
the old content or the new, never half of it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from orchest_schemas.errors import ErrorDetail
from orchest_schemas.pipeline import PipelineDefinition
from orchest_service.commands import validation_details

from .dag import validate_definition
from .project_files import check_project_files

PIPELINE_SUFFIX = ".orchest"
MAX_DEPTH = 6
"""Folders below the project's root that are searched."""
MAX_ENTRIES = 20_000
"""Directory entries looked at in one search."""
MAX_PIPELINES = 500
MAX_PIPELINE_BYTES = 4 * 1024 * 1024
SKIPPED_FOLDERS = frozenset(
    {"node_modules", "__pycache__", "venv", "env", "site-packages", ".ipynb_checkpoints"}
)


class PipelineFileError(Exception):
    """A pipeline file cannot be read or written as asked."""


@dataclass
class Search:
    paths: list[str] = field(default_factory=list)
    """Relative to the project, with ``/``, sorted."""
    truncated: bool = False


def _skipped(entry: os.DirEntry[str]) -> bool:
    name = entry.name
    if name.startswith(".") or name in SKIPPED_FOLDERS:
        return True
    return os.path.exists(os.path.join(entry.path, "pyvenv.cfg"))  # a virtual environment


def find_pipelines(root: Path) -> Search:
    """The ``*.orchest`` files of the project (symlinked folders not followed)."""
    search = Search()
    entries = 0
    folders: list[tuple[str, int]] = [("", 0)]
    while folders:
        relative, depth = folders.pop()
        try:
            with os.scandir(root / relative) as listing:
                items = sorted(listing, key=lambda e: e.name)
        except OSError:
            continue
        for entry in items:
            entries += 1
            if entries > MAX_ENTRIES or len(search.paths) >= MAX_PIPELINES:
                search.truncated = True
                search.paths.sort()
                return search
            path = f"{relative}/{entry.name}" if relative else entry.name
            if entry.is_dir(follow_symlinks=False):
                if _skipped(entry):
                    continue
                if depth + 1 > MAX_DEPTH:
                    search.truncated = True
                    continue
                folders.append((path, depth + 1))
            elif entry.name.endswith(PIPELINE_SUFFIX) and entry.is_file():
                search.paths.append(path)
    search.paths.sort()
    return search


def etag_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


@dataclass
class PipelineFile:
    path: str
    etag: str
    content: Any
    """The parsed JSON (None when it does not parse)."""
    problems: list[ErrorDetail]

    @property
    def uuid(self) -> str | None:
        value = self.content.get("uuid") if isinstance(self.content, dict) else None
        return value if isinstance(value, str) and value else None

    @property
    def name(self) -> str | None:
        value = self.content.get("name") if isinstance(self.content, dict) else None
        return value if isinstance(value, str) else None

    @property
    def step_count(self) -> int:
        steps = self.content.get("steps") if isinstance(self.content, dict) else None
        return len(steps) if isinstance(steps, dict) else 0


def inside(root: Path, relative: str) -> Path:
    """``relative`` under the project, symlinks followed; PipelineFileError
    if it is absolute or leads outside."""
    if not relative or "\0" in relative or os.path.isabs(relative):
        raise PipelineFileError(f"{relative!r} is not a path relative to the project")
    real_root = root.resolve()
    resolved = (root / relative).resolve()
    if not resolved.is_relative_to(real_root) or resolved == real_root:
        raise PipelineFileError(f"{relative!r} leads outside the project")
    return resolved


def read_pipeline(root: Path, relative: str) -> PipelineFile:
    """The file, parsed and checked as a run of it would be."""
    path = inside(root, relative)
    try:
        if path.stat().st_size > MAX_PIPELINE_BYTES:
            raise PipelineFileError(f"{relative} is larger than {MAX_PIPELINE_BYTES} bytes")
        data = path.read_bytes()
    except OSError as exc:
        raise PipelineFileError(f"{relative} cannot be read: {exc.strerror}") from exc
    try:
        content = json.loads(data)
    except ValueError as exc:
        problem = ErrorDetail(loc=[], msg=f"not JSON: {exc}", type="json_invalid")
        return PipelineFile(relative, etag_of(data), None, [problem])
    return PipelineFile(relative, etag_of(data), content, pipeline_problems(content, root))


def shape_problems(content: Any) -> list[ErrorDetail]:
    """Why ``content`` is not a pipeline definition at all (a draft's only
    check: its meaning, cycles and files, may still be wrong)."""
    try:
        PipelineDefinition.model_validate(content)
    except ValidationError as exc:
        return validation_details(exc)
    return []


def pipeline_problems(content: Any, root: Path) -> list[ErrorDetail]:
    """Every problem a run of this pipeline would be refused for."""
    try:
        definition = PipelineDefinition.model_validate(content)
    except ValidationError as exc:
        return validation_details(exc)
    problems = validate_definition(definition)
    if not problems:
        problems = check_project_files(definition, str(root), list(definition.steps))
    return [_relative_to_file(p.to_detail()) for p in problems]


def _relative_to_file(detail: ErrorDetail) -> ErrorDetail:
    """A problem's place in the file (the run API's places start with the body's key)."""
    loc = detail.loc[1:] if detail.loc[:1] == ["pipeline_definition"] else detail.loc
    return ErrorDetail(loc=loc, msg=detail.msg, type=detail.type)


def encode(content: Any) -> bytes:
    """As Orchest wrote pipeline files: JSON indented by four spaces."""
    return (json.dumps(content, indent=4, ensure_ascii=False) + "\n").encode()


def write_atomically(path: Path, data: bytes) -> None:
    """Replace (or create) ``path`` with ``data``, keeping its permissions."""
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    with _written(path, data, mode) as tmp:
        os.replace(tmp, path)


def create_atomically(path: Path, data: bytes) -> None:
    """Create ``path`` with ``data``; FileExistsError if it exists (checked
    and created in one step: a hard link of the written file)."""
    with _written(path, data, 0o644) as tmp:
        os.link(tmp, path)
        os.unlink(tmp)


@contextlib.contextmanager
def _written(path: Path, data: bytes, mode: int) -> Iterator[str]:
    """A temporary file beside ``path`` holding ``data``, flushed to disk;
    removed if the caller did not move it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        yield tmp
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
