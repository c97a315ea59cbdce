"""``/api/projects/{project_uuid}/files``: a project's files, for a file
picker and a small text editor. Every path is resolved inside the project by
the projects owner; a text file is read with an ``ETag`` and written with
``If-Match``, like a pipeline file."""

from __future__ import annotations

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from orchest_schemas.projects import (
    MAX_FILE_MESSAGE_BYTES,
    CreateStepFile,
    DeleteFile,
    FileContent,
    FileEntry,
    FileList,
    ListFiles,
    MoveFile,
    ReadFile,
    StepTemplate,
    WriteFile,
)

from .body import query_bool, read_json
from .deps import deps_of
from .errors import ApiError
from .openapi import Operation, OperationGroup, Parameter
from .owners import forward, forward_versioned
from .project_requests import (
    BAD_REQUEST,
    IF_MATCH,
    NOT_FOUND,
    PROJECT,
    TAGS,
    UNAVAILABLE,
    if_match_of,
    project_of,
    subject,
    validated,
)


class NewStepFile(BaseModel):
    """The body of ``POST .../files``."""

    path: str
    template: StepTemplate
    kernel: str | None = None


class FileText(BaseModel):
    """The body of ``PUT .../files/content``."""

    content: str


class Move(BaseModel):
    """The body of ``POST .../files/move``."""

    source: str
    destination: str


def _path(request: Request) -> str:
    return request.query_params.get("path", "")


async def list_files(request: Request) -> Response:
    command = validated(ListFiles, {"project_uuid": project_of(request), "path": _path(request)})
    return await forward(request, command, subject(request, "files.list"))


async def read_file(request: Request) -> Response:
    command = validated(ReadFile, {"project_uuid": project_of(request), "path": _path(request)})
    return await forward_versioned(request, command, subject(request, "files.read"), FileContent)


async def write_file(request: Request) -> Response:
    condition = if_match_of(request)
    body = await read_json(request, FileText, deps_of(request).settings)
    command = validated(
        WriteFile,
        {
            "project_uuid": project_of(request),
            "path": _path(request),
            "content": body.content,
            "if_match": condition,
        },
    )
    if len(command.to_bytes()) > MAX_FILE_MESSAGE_BYTES:
        raise ApiError(413, "the file is too large to write as text")
    return await forward(request, command, subject(request, "files.write"))


async def create_step_file(request: Request) -> Response:
    body = await read_json(request, NewStepFile, deps_of(request).settings)
    command = validated(CreateStepFile, {"project_uuid": project_of(request), **body.model_dump()})
    return await forward(request, command, subject(request, "files.create"), 201)


async def move_file(request: Request) -> Response:
    body = await read_json(request, Move, deps_of(request).settings)
    command = validated(MoveFile, {"project_uuid": project_of(request), **body.model_dump()})
    return await forward(request, command, subject(request, "files.move"))


async def delete_file(request: Request) -> Response:
    command = validated(
        DeleteFile,
        {
            "project_uuid": project_of(request),
            "path": _path(request),
            "recursive": query_bool(request, "recursive"),
        },
    )
    return await forward(request, command, subject(request, "files.delete"))


PATH = Parameter("path", "query", "A path relative to the project, with /")
BAD_PATH = {422: ("The path is absolute, leads outside the project, or does not fit", None)}
FILES = OperationGroup(
    "/api/projects/{project_uuid}/files",
    TAGS,
    {**BAD_REQUEST, **NOT_FOUND, **BAD_PATH, **UNAVAILABLE},
)

OPERATIONS: tuple[Operation, ...] = (
    FILES(
        "GET",
        "",
        "listProjectFiles",
        "A folder of the project: its files and folders (name, kind, size, modified)",
        {200: ("The folder", FileList)},
        parameters=(PROJECT, PATH),
    ),
    FILES(
        "POST",
        "",
        "createStepFile",
        "Create a step file from a template (notebook, python, shell, r)",
        {201: ("The file, with its content and etag", FileContent), 409: ("The file exists", None)},
        parameters=(PROJECT,),
        request_body=NewStepFile,
    ),
    FILES(
        "DELETE",
        "",
        "deleteProjectFile",
        "Delete a file, or a folder (recursive=true when it is not empty)",
        {200: ("Deleted", None), 409: ("A folder that is not empty", None)},
        parameters=(
            PROJECT,
            PATH,
            Parameter(
                "recursive",
                "query",
                "Delete a folder with what it holds",
                {"type": "boolean", "default": False},
            ),
        ),
    ),
    FILES(
        "GET",
        "/content",
        "readProjectFile",
        "A small UTF-8 text file (ETag header)",
        {
            200: ("The file's text and etag", FileContent),
            413: ("Larger than a text file read through the API", None),
        },
        parameters=(PROJECT, PATH),
    ),
    FILES(
        "PUT",
        "/content",
        "writeProjectFile",
        "Write a small text file atomically, if it is still the version read (If-Match)",
        {
            200: ("The file's new etag", FileContent),
            412: ("The file changed since it was read", None),
            413: ("Too large to write as text", None),
        },
        parameters=(PROJECT, PATH, IF_MATCH),
        request_body=FileText,
    ),
    FILES(
        "POST",
        "/move",
        "moveProjectFile",
        "Rename or move a file or folder within the project",
        {
            200: ("The file or folder at its new path", FileEntry),
            409: ("The destination exists", None),
        },
        parameters=(PROJECT,),
        request_body=Move,
    ),
)

HANDLERS = {
    "listProjectFiles": list_files,
    "createStepFile": create_step_file,
    "deleteProjectFile": delete_file,
    "readProjectFile": read_file,
    "writeProjectFile": write_file,
    "moveProjectFile": move_file,
}
