"""``/api/projects/{project_uuid}/environments``: environments and their builds.

A definition is a command to the projects owner (the scheduler, which keeps
it in the project's ``.orchest/environments``); a build, its cancel and its
list are commands to the builds' owner (the session manager). Creating or
changing an environment starts a build. A build's log is read from the
``LOGS`` stream as a step's is (``logs_api.log_text``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.config import JsonDict
from starlette.requests import Request
from starlette.responses import Response

from orchest_schemas.environments import (
    BuildEnvironment,
    BuildList,
    BuildView,
    CancelBuild,
    CreateEnvironment,
    DeleteEnvironment,
    EnvironmentList,
    EnvironmentSpec,
    EnvironmentView,
    GetEnvironment,
    ListBuilds,
    ListEnvironments,
    UpdateEnvironment,
)
from orchest_schemas.events import BuildLogChunk

from .body import query_bool, read_json
from .deps import deps_of
from .errors import ApiError
from .logs_api import log_response, log_text
from .openapi import Operation, OperationGroup, Parameter
from .owners import ask, forward, json_response
from .project_requests import PROJECT, project_of, validated

_EXAMPLE: JsonDict = {
    "name": "Python with pandas",
    "language": "python",
    "base_image": "orchest/base-kernel-py",
    "setup_script": "#!/bin/bash\npip install pandas\n",
    "env_variables": {"MPLBACKEND": "Agg"},
}


class NewEnvironment(EnvironmentSpec):
    """The body of ``POST .../environments``: Orchest's ``properties.json``
    fields and the setup script."""

    model_config = ConfigDict(
        frozen=True, extra="ignore", json_schema_extra={"examples": [_EXAMPLE]}
    )


class EnvironmentChanges(BaseModel):
    """The body of ``PATCH .../environments/{environment_uuid}``; fields left out stay."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"setup_script": "pip install pandas==2.2.3\n"}]}
    )

    name: str | None = None
    language: str | None = None
    base_image: str | None = None
    gpu_support: bool | None = None
    setup_script: str | None = None
    env_variables: dict[str, str] | None = None


def _env_path(request: Request) -> dict[str, str]:
    return {
        "project_uuid": project_of(request),
        "environment_uuid": str(request.path_params["environment_uuid"]),
    }


def _defs(request: Request, action: str) -> str:
    return deps_of(request).bus.project_command(f"environments.{action}")


def _builds(request: Request, action: str) -> str:
    return deps_of(request).bus.environment_command(action)


async def _start_build(request: Request, environment: EnvironmentView) -> EnvironmentView:
    command = BuildEnvironment(
        project_uuid=environment.project_uuid, environment_uuid=environment.uuid
    )
    build = await ask(request, _builds(request, "build"), command, BuildView)
    return environment.model_copy(update={"latest_build": build})


async def list_environments(request: Request) -> Response:
    project_uuid = project_of(request)
    command = validated(ListEnvironments, {"project_uuid": project_uuid})
    found = await ask(request, _defs(request, "list"), command, EnvironmentList)
    latest = await ask(
        request, _builds(request, "builds"), ListBuilds(project_uuid=project_uuid), BuildList
    )
    by_env = {b.environment_uuid: b for b in latest.builds}
    return json_response(
        EnvironmentList(
            environments=[
                e.model_copy(update={"latest_build": by_env.get(e.uuid)})
                for e in found.environments
            ]
        )
    )


async def create_environment(request: Request) -> Response:
    body = await read_json(request, NewEnvironment, deps_of(request).settings)
    spec = EnvironmentSpec.model_validate(body.model_dump())
    command = validated(CreateEnvironment, {"project_uuid": project_of(request), "spec": spec})
    made = await ask(request, _defs(request, "create"), command, EnvironmentView)
    return json_response(await _start_build(request, made), 201)


async def get_environment(request: Request) -> Response:
    command = validated(GetEnvironment, _env_path(request))
    found = await ask(request, _defs(request, "get"), command, EnvironmentView)
    builds = await ask(
        request,
        _builds(request, "builds"),
        ListBuilds(project_uuid=found.project_uuid, environment_uuid=found.uuid),
        BuildList,
    )
    latest = builds.builds[0] if builds.builds else None
    return json_response(found.model_copy(update={"latest_build": latest}))


async def update_environment(request: Request) -> Response:
    body = await read_json(request, EnvironmentChanges, deps_of(request).settings)
    command = validated(
        UpdateEnvironment, {**_env_path(request), **body.model_dump(exclude_unset=True)}
    )
    changed = await ask(request, _defs(request, "update"), command, EnvironmentView)
    return json_response(await _start_build(request, changed))


async def delete_environment(request: Request) -> Response:
    command = validated(DeleteEnvironment, _env_path(request))
    return await forward(request, command, _defs(request, "delete"))


async def list_builds(request: Request) -> Response:
    command = validated(ListBuilds, _env_path(request))
    return json_response(await ask(request, _builds(request, "builds"), command, BuildList))


async def start_build(request: Request) -> Response:
    command = validated(BuildEnvironment, _env_path(request))
    return json_response(await ask(request, _builds(request, "build"), command, BuildView), 201)


async def _build_of_path(request: Request) -> BuildView:
    path = _env_path(request)
    command = validated(ListBuilds, {**path, "build_uuid": str(request.path_params["build_uuid"])})
    found = await ask(request, _builds(request, "builds"), command, BuildList)
    builds = [b for b in found.builds if b.environment_uuid == path["environment_uuid"]]
    if not builds:
        raise ApiError(404, f"no build {command.build_uuid} of this environment")
    return builds[0]


async def get_build(request: Request) -> Response:
    return json_response(await _build_of_path(request))


async def cancel_build(request: Request) -> Response:
    values: dict[str, Any] = {**_env_path(request), "build_uuid": request.path_params["build_uuid"]}
    command = validated(CancelBuild, values)
    return json_response(await ask(request, _builds(request, "cancel"), command, BuildView))


async def build_logs(request: Request) -> Response:
    deps = deps_of(request)
    build = await _build_of_path(request)
    follow = query_bool(request, "follow")

    def text_of(data: bytes) -> str:
        return BuildLogChunk.model_validate_json(data).data

    async def ended() -> bool:
        command = ListBuilds(project_uuid=build.project_uuid, build_uuid=build.uuid)
        found = await ask(request, _builds(request, "builds"), command, BuildList)
        return not found.builds or found.builds[0].status.is_final

    lines = log_text(deps, deps.bus.build_log(build.uuid), text_of, ended, follow)
    return log_response(lines, deps, follow)


ENVIRONMENT = Parameter("environment_uuid", "path", "The environment's uuid (its folder's name)")
BUILD = Parameter("build_uuid", "path", "The build's uuid")
FOLLOW = Parameter(
    "follow", "query", "Stream the log until the build ends", {"type": "boolean", "default": False}
)
NOT_FOUND = {404: ("No such project, environment or build", None)}
UNAVAILABLE = {503: ("The scheduler or the session manager did not answer", None)}
BAD_REQUEST = {400: ("The body is not JSON", None)}
INVALID = {422: ("Invalid path, query or body; every problem listed", None)}
TAGS = ("environments",)
BASE = "/api/projects/{project_uuid}/environments"
ENVIRONMENTS = OperationGroup(BASE, TAGS, {**INVALID, **NOT_FOUND, **UNAVAILABLE})

OPERATIONS: tuple[Operation, ...] = (
    ENVIRONMENTS(
        "GET",
        "",
        "listEnvironments",
        "The project's environments (.orchest/environments), each with its latest build",
        {200: ("The environments", EnvironmentList)},
        parameters=(PROJECT,),
    ),
    ENVIRONMENTS(
        "POST",
        "",
        "createEnvironment",
        "Create an environment (its files in the project) and start its first build",
        {201: ("The environment, with its build", EnvironmentView), **BAD_REQUEST},
        parameters=(PROJECT,),
        request_body=NewEnvironment,
    ),
    ENVIRONMENTS(
        "GET",
        "/{environment_uuid}",
        "getEnvironment",
        "An environment, with its latest build",
        {200: ("The environment", EnvironmentView)},
        parameters=(PROJECT, ENVIRONMENT),
    ),
    ENVIRONMENTS(
        "PATCH",
        "/{environment_uuid}",
        "updateEnvironment",
        "Change an environment's definition and start a build of it",
        {200: ("The environment, with its new build", EnvironmentView), **BAD_REQUEST},
        parameters=(PROJECT, ENVIRONMENT),
        request_body=EnvironmentChanges,
    ),
    ENVIRONMENTS(
        "DELETE",
        "/{environment_uuid}",
        "deleteEnvironment",
        "Delete an environment's files (refused while a run, job or session uses it)",
        {200: ("Deleted", None), 409: ("A run, a job or a session uses it", None)},
        parameters=(PROJECT, ENVIRONMENT),
    ),
    Operation(
        method="GET",
        path=BASE + "/{environment_uuid}/builds",
        operation_id="listBuilds",
        summary="The environment's builds, newest first",
        parameters=(PROJECT, ENVIRONMENT),
        responses={**INVALID, 200: ("The builds", BuildList), **UNAVAILABLE},
        tags=TAGS,
    ),
    ENVIRONMENTS(
        "POST",
        "/{environment_uuid}/builds",
        "startBuild",
        "Build the environment again, as its files now say",
        {201: ("The build (PENDING)", BuildView)},
        parameters=(PROJECT, ENVIRONMENT),
    ),
    ENVIRONMENTS(
        "GET",
        "/{environment_uuid}/builds/{build_uuid}",
        "getBuild",
        "A build",
        {200: ("The build", BuildView)},
        parameters=(PROJECT, ENVIRONMENT, BUILD),
    ),
    ENVIRONMENTS(
        "DELETE",
        "/{environment_uuid}/builds/{build_uuid}",
        "cancelBuild",
        "Cancel a build (its processes are killed within 2 s)",
        {200: ("The build, ABORTED", BuildView), 409: ("The build has ended", None)},
        parameters=(PROJECT, ENVIRONMENT, BUILD),
    ),
    ENVIRONMENTS(
        "GET",
        "/{environment_uuid}/builds/{build_uuid}/logs",
        "getBuildLogs",
        "A build's log (with follow=true, streamed until the build ends)",
        {200: ("The log", None)},
        parameters=(PROJECT, ENVIRONMENT, BUILD, FOLLOW),
        content_type="text/plain",
    ),
)

HANDLERS = {
    "listEnvironments": list_environments,
    "createEnvironment": create_environment,
    "getEnvironment": get_environment,
    "updateEnvironment": update_environment,
    "deleteEnvironment": delete_environment,
    "listBuilds": list_builds,
    "startBuild": start_build,
    "getBuild": get_build,
    "cancelBuild": cancel_build,
    "getBuildLogs": build_logs,
}
