"""Environment definitions: the command handlers of their owner (the
projects owner), over the files of ``environment_files``. The builds are
the session manager's (``docs/environments.md``)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg

from orchest_schemas.environments import (
    CreateEnvironment,
    DeleteEnvironment,
    EnvironmentList,
    EnvironmentSpec,
    EnvironmentView,
    GetEnvironment,
    ListEnvironments,
    UpdateEnvironment,
)
from orchest_schemas.errors import ErrorCode
from orchest_schemas.projects import Deleted
from orchest_service.errors import CommandError

from . import environment_files as files
from . import project_store as db
from .projects import Projects


class Environments:
    def __init__(self, pool: asyncpg.Pool, projects: Projects) -> None:
        self._pool = pool
        self._projects = projects

    async def list(self, command: ListEnvironments) -> EnvironmentList:
        folder = await self._folder(command.project_uuid)
        found = await asyncio.to_thread(files.list_environments, folder, command.project_uuid)
        return EnvironmentList(environments=found)

    async def get(self, command: GetEnvironment) -> EnvironmentView:
        folder = await self._folder(command.project_uuid)
        return await self._read(folder, command.project_uuid, command.environment_uuid)

    async def create(self, command: CreateEnvironment) -> EnvironmentView:
        folder = await self._folder(command.project_uuid)
        environment_uuid = (
            str(uuid.uuid5(uuid.NAMESPACE_URL, f"{command.project_uuid}/{command.idempotency_key}"))
            if command.idempotency_key is not None
            else str(uuid.uuid4())
        )
        await asyncio.to_thread(files.write_environment, folder, environment_uuid, command.spec)
        return await self._read(folder, command.project_uuid, environment_uuid)

    async def update(self, command: UpdateEnvironment) -> EnvironmentView:
        folder = await self._folder(command.project_uuid)
        current = await self._read(folder, command.project_uuid, command.environment_uuid)
        changes = command.model_dump(include=set(EnvironmentSpec.model_fields), exclude_none=True)
        base = current.model_dump(include=set(EnvironmentSpec.model_fields))
        spec = EnvironmentSpec.model_validate({**base, **changes})
        await asyncio.to_thread(files.write_environment, folder, command.environment_uuid, spec)
        return await self._read(folder, command.project_uuid, command.environment_uuid)

    async def delete(self, command: DeleteEnvironment) -> Deleted:
        folder = await self._folder(command.project_uuid)
        current = await self._read(folder, command.project_uuid, command.environment_uuid)
        async with self._pool.acquire() as conn:
            users = await db.environment_users(conn, command.project_uuid, current.uuid)
        if users:
            raise CommandError(
                ErrorCode.CONFLICT,
                f"environment {current.name!r} is in use ({', '.join(users)}): not deleted",
            )
        await asyncio.to_thread(files.delete_environment, folder, current.uuid)
        return Deleted()

    async def _folder(self, project_uuid: str) -> Path:
        record = await self._projects.load(project_uuid)
        return Path(record.path)

    async def _read(
        self, folder: Path, project_uuid: str, environment_uuid: str
    ) -> EnvironmentView:
        found = await asyncio.to_thread(
            files.read_environment, folder, project_uuid, environment_uuid
        )
        if found is None:
            raise CommandError(
                ErrorCode.NOT_FOUND, f"no environment {environment_uuid} in project {project_uuid}"
            )
        return found
