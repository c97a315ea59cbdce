"""A project's pipeline files: the command handlers that list, read, create,
save and delete them.

A pipeline is named by its uuid (the file's ``uuid``), found by searching the
project. A save or delete conditional on an etag (``if_match``) is checked
and written under a transaction-scoped advisory lock on the file, so two
writers based on the same read cannot both win, whichever replica takes
them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
from pydantic import ValidationError

from orchest_schemas.errors import ErrorCode, ErrorDetail
from orchest_schemas.pipeline import PipelineDefinition
from orchest_schemas.projects import (
    CreatePipeline,
    Deleted,
    DeletePipeline,
    DuplicatePipeline,
    GetPipeline,
    ListPipelines,
    PipelineDocument,
    PipelineList,
    PipelineSummary,
    SavePipeline,
    SetPipelineEnv,
)
from orchest_service.commands import validation_details
from orchest_service.errors import CommandError

from . import pipeline_files as files
from . import project_store as db
from .pipeline_files import PipelineFile, PipelineFileError
from .projects import Projects
from .runs import ResolvedPipeline

_FILE_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"


def _invalid(
    message: str, loc: list[str | int], errors: list[ErrorDetail] | None = None
) -> CommandError:
    return CommandError(
        ErrorCode.INVALID,
        message,
        errors or [ErrorDetail(loc=loc, msg=message, type="value_error")],
    )


def _document(
    project_uuid: str, found: PipelineFile, env: dict[str, str] | None = None
) -> PipelineDocument:
    assert found.uuid is not None and isinstance(found.content, dict)
    return PipelineDocument(
        project_uuid=project_uuid,
        uuid=found.uuid,
        path=found.path,
        etag=found.etag,
        definition=found.content,
        problems=found.problems,
        env_variables=env or {},
    )


class Pipelines:
    def __init__(self, pool: asyncpg.Pool, projects: Projects) -> None:
        self._pool = pool
        self._projects = projects

    async def list(self, command: ListPipelines) -> PipelineList:
        root = await self._root(command.project_uuid)
        return await asyncio.to_thread(_list, root)

    async def get(self, command: GetPipeline) -> PipelineDocument:
        root = await self._root(command.project_uuid)
        found = await asyncio.to_thread(_find, root, command.pipeline_uuid)
        return _document(command.project_uuid, found, await self._env(command))

    async def set_env(self, command: SetPipelineEnv) -> PipelineDocument:
        root = await self._root(command.project_uuid)
        found = await asyncio.to_thread(_find, root, command.pipeline_uuid)
        async with self._pool.acquire() as conn:
            await db.set_pipeline_env(
                conn, command.project_uuid, command.pipeline_uuid, command.env_variables
            )
        return _document(command.project_uuid, found, command.env_variables)

    async def _env(self, command: GetPipeline | SavePipeline) -> dict[str, str]:
        async with self._pool.acquire() as conn:
            return await db.pipeline_env(conn, command.project_uuid, command.pipeline_uuid)

    async def create(self, command: CreatePipeline) -> PipelineDocument:
        root = await self._root(command.project_uuid)
        if not command.path.endswith(files.PIPELINE_SUFFIX):
            raise _invalid(f"a pipeline file's name ends with {files.PIPELINE_SUFFIX}", ["path"])
        content = {  # what Orchest writes for a new pipeline, in its order
            "name": command.name,
            "parameters": {},
            "settings": {"auto_eviction": False, "data_passing_memory_size": "1GB"},
            "steps": {},
            "uuid": str(uuid.uuid4()),
            "version": "1.0.0",
            "services": {},
        }
        created = await asyncio.to_thread(_create, root, command.path, content)
        return _document(command.project_uuid, created)

    async def save(self, command: SavePipeline) -> PipelineDocument:
        root = await self._root(command.project_uuid)
        if command.definition.get("uuid") != command.pipeline_uuid:
            raise _invalid(
                f"the definition's uuid must be the pipeline's ({command.pipeline_uuid})", ["uuid"]
            )
        if command.draft:
            problems = files.shape_problems(command.definition)
        else:
            problems = await asyncio.to_thread(files.pipeline_problems, command.definition, root)
        if problems:
            raise _invalid(f"the pipeline has {len(problems)} problem(s)", [], problems)
        found = await asyncio.to_thread(_find, root, command.pipeline_uuid)
        async with self.file_lock(command.project_uuid, found.path):
            saved = await asyncio.to_thread(
                _save, root, command.pipeline_uuid, command.definition, command.if_match
            )
        return _document(command.project_uuid, saved, await self._env(command))

    async def delete(self, command: DeletePipeline) -> Deleted:
        root = await self._root(command.project_uuid)
        found = await asyncio.to_thread(_find, root, command.pipeline_uuid)
        async with self.file_lock(command.project_uuid, found.path):
            await asyncio.to_thread(_delete, root, command.pipeline_uuid, command.if_match)
        return Deleted()

    async def resolve(self, project_uuid: str, pipeline_uuid: str) -> ResolvedPipeline:
        """The pipeline file as a definition, for a run or a job to freeze;
        a file that is not a pipeline definition is refused listing why (the
        run's own checks follow)."""
        record = await self._projects.load(project_uuid)
        root = await self._root(project_uuid)
        found = await asyncio.to_thread(_find, root, pipeline_uuid)
        try:
            definition = PipelineDefinition.model_validate(found.content)
        except ValidationError as exc:
            details = [
                ErrorDetail(loc=["pipeline_definition", *d.loc], msg=d.msg, type=d.type)
                for d in validation_details(exc)
            ]
            raise _invalid(f"{found.path} is not a valid pipeline", [], details) from None
        async with self._pool.acquire() as conn:
            own = await db.pipeline_env(conn, project_uuid, pipeline_uuid)
        env = {**record.env_variables, **own}
        return ResolvedPipeline(definition, str(root), found.path, env)

    @contextlib.asynccontextmanager
    async def file_lock(self, project_uuid: str, path: str) -> AsyncIterator[None]:
        """Hold a file of a project against other writers, on every replica
        (a transaction-scoped advisory lock): a version check and the write
        it guards happen as one."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(_FILE_LOCK, f"{project_uuid}/{path}")
            yield

    async def root(self, project_uuid: str) -> Path:
        """The project's folder; 404 for an unknown project, 409 if it is gone."""
        return await self._root(project_uuid)

    async def _root(self, project_uuid: str) -> Path:
        record = await self._projects.load(project_uuid)
        root = Path(record.path)
        if not await asyncio.to_thread(root.is_dir):
            raise CommandError(
                ErrorCode.CONFLICT, f"the folder of project {record.name!r} is gone: {root}"
            )
        return root


# -- blocking work (in a thread) ---------------------------------------------------


def _read_all(root: Path) -> tuple[list[PipelineFile], bool]:
    search = files.find_pipelines(root)
    found = []
    for path in search.paths:
        try:
            found.append(files.read_pipeline(root, path))
        except PipelineFileError as exc:
            problem = ErrorDetail(loc=[], msg=str(exc), type="file_unreadable")
            found.append(PipelineFile(path, "", None, [problem]))
    return found, search.truncated


def _list(root: Path) -> PipelineList:
    found, truncated = _read_all(root)
    by_uuid: dict[str, list[str]] = defaultdict(list)
    for pipeline in found:
        if pipeline.uuid is not None:
            by_uuid[pipeline.uuid].append(pipeline.path)
    return PipelineList(
        pipelines=[
            PipelineSummary(
                uuid=p.uuid,
                name=p.name,
                path=p.path,
                step_count=p.step_count,
                valid=not p.problems,
                problems=p.problems,
            )
            for p in found
        ],
        duplicates=[
            DuplicatePipeline(uuid=key, paths=paths)
            for key, paths in sorted(by_uuid.items())
            if len(paths) > 1
        ],
        truncated=truncated,
    )


def _find(root: Path, pipeline_uuid: str) -> PipelineFile:
    found, _ = _read_all(root)
    matches = [p for p in found if p.uuid == pipeline_uuid]
    if not matches:
        raise CommandError(ErrorCode.NOT_FOUND, f"no pipeline {pipeline_uuid} in the project")
    if len(matches) > 1:
        paths = ", ".join(p.path for p in matches)
        raise CommandError(
            ErrorCode.CONFLICT, f"several files hold pipeline {pipeline_uuid}: {paths}"
        )
    if not isinstance(matches[0].content, dict):
        raise CommandError(ErrorCode.CONFLICT, f"{matches[0].path} is not a JSON object")
    return matches[0]


def _check_version(current: PipelineFile, if_match: str | None) -> None:
    if if_match is not None and if_match != current.etag:
        raise CommandError(
            ErrorCode.PRECONDITION_FAILED,
            f"{current.path} changed since it was read (etag {current.etag}, not {if_match}):"
            " read it again",
        )


def _save(
    root: Path, pipeline_uuid: str, content: dict[str, Any], if_match: str | None
) -> PipelineFile:
    current = _find(root, pipeline_uuid)
    _check_version(current, if_match)
    path = files.inside(root, current.path)
    _write(path, files.encode(content), exclusive=False)
    return files.read_pipeline(root, current.path)


def _delete(root: Path, pipeline_uuid: str, if_match: str | None) -> None:
    current = _find(root, pipeline_uuid)
    _check_version(current, if_match)
    try:
        os.unlink(files.inside(root, current.path))
    except OSError as exc:
        raise CommandError(
            ErrorCode.CONFLICT, f"{current.path} cannot be deleted: {exc.strerror}"
        ) from None


def _create(root: Path, relative: str, content: dict[str, Any]) -> PipelineFile:
    try:
        path = files.inside(root, relative)
    except PipelineFileError as exc:
        raise _invalid(str(exc), ["path"]) from None
    _write(path, files.encode(content), exclusive=True)
    return files.read_pipeline(root, relative)


def _write(path: Path, data: bytes, *, exclusive: bool) -> None:
    try:
        if exclusive:
            files.create_atomically(path, data)
        else:
            files.write_atomically(path, data)
    except FileExistsError:
        raise CommandError(ErrorCode.CONFLICT, f"{path.name} exists") from None
    except OSError as exc:
        raise CommandError(
            ErrorCode.CONFLICT, f"{path.name} cannot be written: {exc.strerror}"
        ) from None
