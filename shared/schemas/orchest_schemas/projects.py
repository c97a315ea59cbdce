"""Projects and their pipeline files: the commands and the views.

A project is a folder: one in the projects directory (``managed``), or one
registered from elsewhere (the user's own repository). Its pipelines are the
``*.orchest`` files found in it; each is read, validated and written as a
file, with an ``etag`` (a hash of its bytes) so that a write based on an
older read is refused instead of losing the newer content.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from ._base import Message
from .commands import Command
from .errors import ErrorDetail

PROJECT_NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_. -]{0,99}$"
"""A folder name: no path separator, not hidden, not ``.``/``..``, at most 100 characters."""
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,254}$"

ProjectName = Annotated[str, StringConstraints(pattern=PROJECT_NAME_PATTERN)]
EnvName = Annotated[str, StringConstraints(pattern=ENV_NAME_PATTERN)]
EnvVariables = dict[EnvName, Annotated[str, StringConstraints(max_length=65_536)]]
ProjectUuid = Annotated[str, StringConstraints(min_length=1, max_length=64)]
PipelineUuid = Annotated[str, StringConstraints(min_length=1, max_length=255)]
RelativePath = Annotated[str, StringConstraints(min_length=1, max_length=4096)]


# -- projects ------------------------------------------------------------------


class CreateProject(Command):
    """A new project: an empty folder in the projects directory (with the
    quickstart pipeline if ``template`` asks), or, with ``path``, an existing
    folder registered where it is."""

    name: ProjectName
    path: Annotated[str, StringConstraints(min_length=1, max_length=4096)] | None = None
    """An absolute path of an existing folder to register (nothing is written in it)."""
    template: Literal["quickstart"] | None = None
    env_variables: EnvVariables = Field(default_factory=dict)


class UpdateProject(Command):
    """Rename a project (a managed one's folder is renamed too) or replace its
    env variables; fields left out stay as they are."""

    project_uuid: ProjectUuid
    name: ProjectName | None = None
    env_variables: EnvVariables | None = None


class DeleteProject(Command):
    """Unregister a project; its folder is deleted only with ``delete_files``
    (refused while a session or a run of it is live)."""

    project_uuid: ProjectUuid
    delete_files: bool = False


class ListProjects(Command):
    """Every project (the projects directory is looked at first: a folder
    created there by hand becomes a project)."""


class GetProject(Command):
    project_uuid: ProjectUuid


class ProjectView(Message):
    uuid: str
    name: str
    path: str
    managed: bool
    """In the projects directory (else registered from elsewhere)."""
    exists: bool
    """The folder is there (a registered folder may have been moved away)."""
    env_variables: dict[str, str]
    created_at: datetime
    updated_at: datetime


class ProjectList(Message):
    projects: list[ProjectView]


# -- pipelines -----------------------------------------------------------------


class ListPipelines(Command):
    project_uuid: ProjectUuid


class PipelineSummary(Message):
    uuid: str | None
    """None when the file has no readable uuid (then it is not valid)."""
    name: str | None
    path: str
    """Relative to the project, with ``/``."""
    step_count: int
    valid: bool
    problems: list[ErrorDetail] = Field(default_factory=list)


class DuplicatePipeline(Message):
    """Several files of one project claim the same pipeline uuid."""

    uuid: str
    paths: list[str]


class PipelineList(Message):
    pipelines: list[PipelineSummary]
    duplicates: list[DuplicatePipeline] = Field(default_factory=list)
    truncated: bool = False
    """The search stopped at its limit of files or depth."""


class GetPipeline(Command):
    project_uuid: ProjectUuid
    pipeline_uuid: PipelineUuid


class PipelineDocument(Message):
    """One pipeline file: its content as JSON, its version and every problem."""

    project_uuid: str
    uuid: str
    path: str
    etag: str
    definition: dict[str, Any]
    problems: list[ErrorDetail] = Field(default_factory=list)
    """Every problem a run of it would be refused for (empty: it can run)."""
    env_variables: dict[str, str] = Field(default_factory=dict)
    """The pipeline's env variables (kept beside its file, not in it), over
    the project's for its runs and jobs."""


class CreatePipeline(Command):
    """A new pipeline file with no steps (its uuid is made here)."""

    project_uuid: ProjectUuid
    path: RelativePath
    """Relative to the project; must end with ``.orchest`` and not exist yet."""
    name: Annotated[str, StringConstraints(min_length=1, max_length=255)]


class SavePipeline(Command):
    """Write a pipeline file (atomically) if its ``etag`` is still ``if_match``."""

    project_uuid: ProjectUuid
    pipeline_uuid: PipelineUuid
    definition: dict[str, Any]
    if_match: str | None = None
    """The etag the change is based on; None writes whatever is on disk."""
    draft: bool = False
    """Write a pipeline a run would refuse (a cycle, a missing step file),
    its problems listed in the answer; it must still be a pipeline (its
    shape, its uuid)."""


class SetPipelineEnv(Command):
    """Replace a pipeline's env variables."""

    project_uuid: ProjectUuid
    pipeline_uuid: PipelineUuid
    env_variables: EnvVariables


class DeletePipeline(Command):
    project_uuid: ProjectUuid
    pipeline_uuid: PipelineUuid
    if_match: str | None = None


class Deleted(Message):
    """The answer to a delete."""

    deleted: bool = True


# -- files ---------------------------------------------------------------------

MAX_TEXT_FILE_BYTES = 256 * 1024
"""The largest file read or written as text through the API."""
MAX_FILE_MESSAGE_BYTES = 900 * 1024
"""The largest encoded file command or answer (under NATS's 1 MiB payload:
a text of control characters is longer once escaped in JSON)."""

StepTemplate = Literal["notebook", "python", "shell", "r"]


class ListFiles(Command):
    project_uuid: ProjectUuid
    path: Annotated[str, StringConstraints(max_length=4096)] = ""
    """A folder relative to the project; empty: the project's root."""


class FileEntry(Message):
    name: str
    path: str
    """Relative to the project, with ``/``."""
    kind: Literal["file", "folder", "other"]
    size: int
    modified: datetime


class FileList(Message):
    path: str
    entries: list[FileEntry]
    truncated: bool = False


class ReadFile(Command):
    project_uuid: ProjectUuid
    path: RelativePath


class FileContent(Message):
    path: str
    etag: str
    content: str


class WriteFile(Command):
    """Write a text file atomically (created if missing), if its ``etag`` is
    still ``if_match`` (None: whatever is there)."""

    project_uuid: ProjectUuid
    path: RelativePath
    content: Annotated[str, StringConstraints(max_length=MAX_TEXT_FILE_BYTES)]
    if_match: str | None = None


class CreateStepFile(Command):
    """A new step file from a template: a notebook (with ``kernel``), or a
    ``.py``, ``.sh`` or ``.R`` script reading its parameters."""

    project_uuid: ProjectUuid
    path: RelativePath
    template: StepTemplate
    kernel: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = None
    """A notebook's kernelspec name (default: ``python3``)."""


class MoveFile(Command):
    project_uuid: ProjectUuid
    source: RelativePath
    destination: RelativePath


class DeleteFile(Command):
    project_uuid: ProjectUuid
    path: RelativePath
    recursive: bool = False
    """Needed to delete a folder that is not empty."""
