"""Environments: their definitions (files of the project, owned by the
scheduler) and their builds (owned by the session manager). See
``docs/environments.md``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from ._base import Message
from .commands import Command
from .errors import ErrorDetail
from .projects import EnvVariables, ProjectUuid
from .status import BuildStatus

EnvironmentUuid = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
"""A uuid (any token of letters, digits, ``-``, ``_``: it names a folder and a subject token)."""
EnvironmentName = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Language = Literal["python", "r", "julia", "javascript"]
BaseImage = Annotated[str, StringConstraints(max_length=255, pattern=r"^[A-Za-z0-9._/:@-]*$")]
SetupScript = Annotated[str, StringConstraints(max_length=256 * 1024)]

DEFAULT_BASE_IMAGE = "orchest/base-kernel-py"
MAX_BUILD_LIST = 200


# -- definitions (the scheduler) -------------------------------------------------------


class EnvironmentSpec(Message):
    """What an environment is made of (``properties.json`` and ``setup_script.sh``)."""

    name: EnvironmentName
    language: Language = "python"
    base_image: BaseImage = DEFAULT_BASE_IMAGE
    gpu_support: bool = False
    setup_script: SetupScript = ""
    env_variables: EnvVariables = Field(default_factory=dict)


class ListEnvironments(Command):
    project_uuid: ProjectUuid


class GetEnvironment(Command):
    project_uuid: ProjectUuid
    environment_uuid: EnvironmentUuid


class CreateEnvironment(Command):
    project_uuid: ProjectUuid
    spec: EnvironmentSpec


class UpdateEnvironment(Command):
    """Change a definition; fields left out stay as they are."""

    project_uuid: ProjectUuid
    environment_uuid: EnvironmentUuid
    name: EnvironmentName | None = None
    language: Language | None = None
    base_image: BaseImage | None = None
    gpu_support: bool | None = None
    setup_script: SetupScript | None = None
    env_variables: EnvVariables | None = None


class DeleteEnvironment(Command):
    project_uuid: ProjectUuid
    environment_uuid: EnvironmentUuid


class EnvironmentView(Message):
    """One environment of a project, as its files say (``problems``: why a
    folder of ``.orchest/environments`` cannot be read)."""

    uuid: str
    project_uuid: str
    project_dir: str
    name: str
    language: str = "python"
    base_image: str = DEFAULT_BASE_IMAGE
    gpu_support: bool = False
    setup_script: str = ""
    env_variables: dict[str, str] = Field(default_factory=dict)
    problems: list[ErrorDetail] = Field(default_factory=list)
    latest_build: BuildView | None = None
    """Filled in by the gateway from the builds' owner."""


class EnvironmentList(Message):
    environments: list[EnvironmentView]


# -- builds (the session manager) ------------------------------------------------------


class BuildView(Message):
    uuid: str
    project_uuid: str
    environment_uuid: str
    builder: Literal["process", "docker"]
    status: BuildStatus
    reason: str | None = None
    exit_code: int | None = None
    venv_path: str | None = None
    """A process build's virtual environment."""
    image: str | None = None
    """A docker build's image tag."""
    size_bytes: int | None = None
    created_time: datetime
    started_time: datetime | None = None
    finished_time: datetime | None = None
    pruned_time: datetime | None = None
    """When a process build's venv was removed, a newer build having
    superseded it (None: it is on disk, or the build made none)."""


class BuildList(Message):
    builds: list[BuildView]


class BuildEnvironment(Command):
    """Build an environment as its files now say (a build of it still going is cancelled)."""

    project_uuid: ProjectUuid
    environment_uuid: EnvironmentUuid


class CancelBuild(Command):
    project_uuid: ProjectUuid
    environment_uuid: EnvironmentUuid
    build_uuid: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class ListBuilds(Command):
    project_uuid: ProjectUuid
    environment_uuid: EnvironmentUuid | None = None
    """None: the latest build of each environment of the project."""
    build_uuid: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    """One build only."""


class ResolveEnvironment(Command):
    """Which build a step naming ``environment_uuid`` runs in (``job_uuid``:
    the build pinned for the job, if any)."""

    project_uuid: str | None = None
    environment_uuid: str
    job_uuid: str | None = None


class Resolution(Message):
    managed: bool
    """False: the stack never built this environment (steps run as without environments)."""
    build: BuildView | None = None
    """The build to use; None with ``managed``: none succeeded (``reason`` says why)."""
    name: str | None = None
    reason: str | None = None


class PinEnvironments(Command):
    """A job pins the latest successful build of each environment it names, now."""

    job_uuid: str
    project_uuid: str
    environment_uuids: list[str]


class Pinned(Message):
    pins: dict[str, str] = Field(default_factory=dict)
    """Environment uuid -> build uuid."""


EnvironmentView.model_rebuild()
