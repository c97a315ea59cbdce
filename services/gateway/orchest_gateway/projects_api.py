"""``/api/projects``: projects and their pipeline files.

Every operation is a command to the projects owner (the scheduler), which
holds the folders; the gateway reads no file. A pipeline is read with an
``ETag`` and written with ``If-Match``: a write based on an older read is
refused with 412 instead of losing what changed meanwhile.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, RootModel
from starlette.requests import Request
from starlette.responses import Response

from orchest_schemas.projects import (
    CreatePipeline,
    CreateProject,
    DeletePipeline,
    DeleteProject,
    GetPipeline,
    GetProject,
    ListPipelines,
    ListProjects,
    PipelineDocument,
    PipelineList,
    ProjectList,
    ProjectView,
    SavePipeline,
    SetPipelineEnv,
    UpdateProject,
)

from .body import query_bool, read_json
from .deps import deps_of
from .limits import definition_problems
from .openapi import Operation, OperationGroup, Parameter
from .owners import forward, forward_versioned
from .project_requests import (
    BAD_REQUEST,
    IF_MATCH,
    INVALID,
    NOT_FOUND,
    PROJECT,
    TAGS,
    UNAVAILABLE,
    if_match_of,
    project_of,
    subject,
    validated,
)

ModelT = TypeVar("ModelT", bound=BaseModel)


class ProjectChanges(BaseModel):
    """The body of ``PATCH /api/projects/{project_uuid}``."""

    name: str | None = None
    env_variables: dict[str, str] | None = None


class NewPipeline(BaseModel):
    """The body of ``POST /api/projects/{project_uuid}/pipelines``."""

    path: str
    name: str


class PipelineBody(RootModel[dict[str, Any]]):
    """A pipeline file's content (Orchest's format), as a JSON object."""


def _pipeline_path(request: Request) -> dict[str, str]:
    return {
        "project_uuid": str(request.path_params["project_uuid"]),
        "pipeline_uuid": str(request.path_params["pipeline_uuid"]),
    }


async def _document(request: Request, command: BaseModel, action: str, status: int) -> Response:
    """A pipeline document, with its etag also as the ``ETag`` header."""
    return await forward_versioned(
        request, command, subject(request, action), PipelineDocument, status
    )


async def list_projects(request: Request) -> Response:
    return await forward(request, ListProjects(), subject(request, "list"))


async def create_project(request: Request) -> Response:
    command = await read_json(request, CreateProject, deps_of(request).settings)
    return await forward(request, command, subject(request, "create"), 201)


async def get_project(request: Request) -> Response:
    command = validated(GetProject, {"project_uuid": project_of(request)})
    return await forward(request, command, subject(request, "get"))


async def update_project(request: Request) -> Response:
    body = await read_json(request, ProjectChanges, deps_of(request).settings)
    command = validated(
        UpdateProject,
        {"project_uuid": project_of(request), **body.model_dump(exclude_unset=True)},
    )
    return await forward(request, command, subject(request, "update"))


async def delete_project(request: Request) -> Response:
    command = validated(
        DeleteProject,
        {"project_uuid": project_of(request), "delete_files": query_bool(request, "delete_files")},
    )
    return await forward(request, command, subject(request, "delete"))


async def list_pipelines(request: Request) -> Response:
    command = validated(ListPipelines, {"project_uuid": project_of(request)})
    return await forward(request, command, subject(request, "pipelines.list"))


async def create_pipeline(request: Request) -> Response:
    body = await read_json(request, NewPipeline, deps_of(request).settings)
    command = validated(CreatePipeline, {"project_uuid": project_of(request), **body.model_dump()})
    return await _document(request, command, "pipelines.create", 201)


async def get_pipeline(request: Request) -> Response:
    command = validated(GetPipeline, _pipeline_path(request))
    return await _document(request, command, "pipelines.get", 200)


async def save_pipeline(request: Request) -> Response:
    settings = deps_of(request).settings
    if_match = if_match_of(request)
    body = await read_json(
        request,
        PipelineBody,
        settings,
        lambda document, size: definition_problems(document, [], settings),
    )
    command = validated(
        SavePipeline,
        {
            **_pipeline_path(request),
            "definition": body.root,
            "if_match": if_match,
            "draft": query_bool(request, "draft"),
        },
    )
    return await _document(request, command, "pipelines.save", 200)


class PipelineEnv(BaseModel):
    """The body of ``PUT .../pipelines/{pipeline_uuid}/env_variables``."""

    env_variables: dict[str, str]


async def set_pipeline_env(request: Request) -> Response:
    body = await read_json(request, PipelineEnv, deps_of(request).settings)
    command = validated(
        SetPipelineEnv, {**_pipeline_path(request), "env_variables": body.env_variables}
    )
    return await _document(request, command, "pipelines.env", 200)


async def delete_pipeline(request: Request) -> Response:
    command = validated(
        DeletePipeline, {**_pipeline_path(request), "if_match": if_match_of(request)}
    )
    return await forward(request, command, subject(request, "pipelines.delete"))


PROJECTS = OperationGroup("/api/projects", TAGS, {**BAD_REQUEST, **UNAVAILABLE})
PIPELINE = Parameter("pipeline_uuid", "path", "The pipeline's uuid (its file's `uuid`)")


OPERATIONS: tuple[Operation, ...] = (
    PROJECTS(
        "GET",
        "",
        "listProjects",
        "Every project (a folder made in the projects directory by hand included)",
        {200: ("The projects", ProjectList), **INVALID},
    ),
    PROJECTS(
        "POST",
        "",
        "createProject",
        "Create a project folder (from a template if asked), or register a folder by path",
        {
            201: ("The project", ProjectView),
            409: ("A project has this name or this folder", None),
            422: ("Invalid; every problem listed", None),
        },
        request_body=CreateProject,
    ),
    PROJECTS(
        "GET",
        "/{project_uuid}",
        "getProject",
        "A project",
        {200: ("The project", ProjectView), **INVALID, **NOT_FOUND},
        parameters=(PROJECT,),
    ),
    PROJECTS(
        "PATCH",
        "/{project_uuid}",
        "updateProject",
        "Rename a project (a managed one's folder too) or set its env variables",
        {
            200: ("The project", ProjectView),
            409: ("The name is taken", None),
            422: ("Invalid; every problem listed", None),
            **NOT_FOUND,
        },
        parameters=(PROJECT,),
        request_body=ProjectChanges,
    ),
    PROJECTS(
        "DELETE",
        "/{project_uuid}",
        "deleteProject",
        "Unregister a project; with delete_files=true, delete its folder too",
        {
            200: ("Deleted", None),
            409: ("A managed project without delete_files, or one in use", None),
            **INVALID,
            **NOT_FOUND,
        },
        parameters=(
            PROJECT,
            Parameter(
                "delete_files",
                "query",
                "Delete the folder (refused while a run or session of it is live)",
                {"type": "boolean", "default": False},
            ),
        ),
    ),
    PROJECTS(
        "GET",
        "/{project_uuid}/pipelines",
        "listPipelines",
        "The project's pipeline files (*.orchest), each checked",
        {200: ("The pipelines", PipelineList), **INVALID, **NOT_FOUND},
        parameters=(PROJECT,),
    ),
    PROJECTS(
        "POST",
        "/{project_uuid}/pipelines",
        "createPipeline",
        "Create a pipeline file with no steps",
        {
            201: ("The pipeline file", PipelineDocument),
            409: ("The file exists", None),
            422: ("Invalid path or name", None),
            **NOT_FOUND,
        },
        parameters=(PROJECT,),
        request_body=NewPipeline,
    ),
    PROJECTS(
        "GET",
        "/{project_uuid}/pipelines/{pipeline_uuid}",
        "getPipeline",
        "A pipeline file: its content, ETag and every problem a run would meet",
        {
            200: ("The pipeline file (ETag header)", PipelineDocument),
            409: ("Several files hold this uuid", None),
            **INVALID,
            **NOT_FOUND,
        },
        parameters=(PROJECT, PIPELINE),
    ),
    PROJECTS(
        "PUT",
        "/{project_uuid}/pipelines/{pipeline_uuid}",
        "savePipeline",
        "Write a pipeline file atomically, if it is still the version read (If-Match)",
        {
            200: ("The pipeline file as written (new ETag)", PipelineDocument),
            412: ("The file changed since it was read", None),
            422: ("The pipeline is invalid (a draft: not a pipeline); every problem listed", None),
            **NOT_FOUND,
        },
        parameters=(
            PROJECT,
            PIPELINE,
            IF_MATCH,
            Parameter(
                "draft",
                "query",
                "Write it even if a run would refuse it (a cycle, a missing file): its"
                " problems are in the answer; only a body that is no pipeline is refused",
                {"type": "boolean", "default": False},
            ),
        ),
        request_body=PipelineBody,
    ),
    PROJECTS(
        "PUT",
        "/{project_uuid}/pipelines/{pipeline_uuid}/env_variables",
        "setPipelineEnv",
        "Replace a pipeline's env variables (over the project's, under a job's or run's)",
        {
            200: ("The pipeline file, with its env variables", PipelineDocument),
            422: ("Invalid names or values; every problem listed", None),
            **NOT_FOUND,
        },
        parameters=(PROJECT, PIPELINE),
        request_body=PipelineEnv,
    ),
    PROJECTS(
        "DELETE",
        "/{project_uuid}/pipelines/{pipeline_uuid}",
        "deletePipeline",
        "Delete a pipeline file",
        {
            200: ("Deleted", None),
            412: ("The file changed since it was read", None),
            **INVALID,
            **NOT_FOUND,
        },
        parameters=(PROJECT, PIPELINE, IF_MATCH),
    ),
)

HANDLERS = {
    "listProjects": list_projects,
    "createProject": create_project,
    "getProject": get_project,
    "updateProject": update_project,
    "deleteProject": delete_project,
    "listPipelines": list_pipelines,
    "createPipeline": create_pipeline,
    "getPipeline": get_pipeline,
    "savePipeline": save_pipeline,
    "setPipelineEnv": set_pipeline_env,
    "deletePipeline": delete_pipeline,
}
