"""Projects: the command handlers of the projects owner (this scheduler).

A project's uuid is derived from its folder's absolute path when it is first
recorded (as the CLI derives it from a folder), then kept: renaming a
managed project renames its folder, not its uuid. Every folder of the
projects directory is a project: one made there by hand is recorded the next
time projects are listed. File work runs in a thread.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

from orchest_schemas.errors import ErrorCode, ErrorDetail
from orchest_schemas.projects import (
    CreateProject,
    Deleted,
    DeleteProject,
    GetProject,
    ListProjects,
    ProjectList,
    ProjectView,
    UpdateProject,
)
from orchest_service.errors import CommandError

from . import project_store as db
from .clock import utcnow
from .project_store import NameOrPathTaken, ProjectRecord


def project_uuid_of(path: Path) -> str:
    """A uuid5 of the folder's absolute path's ``file:`` URL (as the CLI's)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, path.resolve().as_uri()))


def _invalid(message: str, *loc: str | int) -> CommandError:
    return CommandError(
        ErrorCode.INVALID, message, [ErrorDetail(loc=list(loc), msg=message, type="value_error")]
    )


class Projects:
    def __init__(
        self,
        pool: asyncpg.Pool,
        projects_dir: Path,
        templates_dir: Path | None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._pool = pool
        self.projects_dir = projects_dir
        self._templates_dir = templates_dir
        self._clock = clock
        self.on_change: Callable[[], None] = lambda: None
        """Called once a project was added, renamed or removed."""

    # -- commands ------------------------------------------------------------------

    async def list(self, command: ListProjects) -> ProjectList:
        await self.record_new_folders()
        async with self._pool.acquire() as conn:
            records = await db.list_projects(conn)
        present = await asyncio.to_thread(lambda: [os.path.isdir(r.path) for r in records])
        return ProjectList(projects=[r.view(ok) for r, ok in zip(records, present, strict=True)])

    async def get(self, command: GetProject) -> ProjectView:
        record = await self.load(command.project_uuid)
        return record.view(await asyncio.to_thread(os.path.isdir, record.path))

    async def create(self, command: CreateProject) -> ProjectView:
        if command.idempotency_key is not None:
            async with self._pool.acquire() as conn:
                done = await db.find_by_key(conn, command.idempotency_key)
            if done is not None:
                return done.view(await asyncio.to_thread(os.path.isdir, done.path))
        if command.path is not None:
            return await self._register(command)
        folder = self.projects_dir / command.name
        template = self._template(command.template)
        record = self._new_record(command, folder, managed=True)
        # The record first, then the folder, in one transaction: the projects
        # directory's watcher (``record_new_folders``) that sees the folder
        # appear waits for this record and leaves the folder to it. Folder
        # first, the watcher could record it in between: this create then
        # answered 409 and removed the folder, leaving the watcher's project
        # without one.
        async with self._pool.acquire() as conn, conn.transaction():
            try:
                await db.insert_project(conn, record, command.idempotency_key)
            except NameOrPathTaken:
                raise CommandError(
                    ErrorCode.CONFLICT, f"a project named {command.name!r} exists"
                ) from None
            await asyncio.to_thread(_make_folder, folder, template)
        self.on_change()
        return record.view(True)

    async def update(self, command: UpdateProject) -> ProjectView:
        changes: dict[str, Any] = {}
        if command.env_variables is not None:
            changes["env_variables"] = command.env_variables
        async with self._pool.acquire() as conn, conn.transaction():
            record = await self._load(conn, command.project_uuid)
            renamed = command.name is not None and command.name != record.name
            if renamed:
                assert command.name is not None
                changes["name"] = command.name
            if renamed and record.managed:
                new_path = self.projects_dir / changes["name"]
                await asyncio.to_thread(_rename_folder, Path(record.path), new_path)
                changes["path"] = str(new_path)
            try:
                await db.update_project(conn, record.uuid, changes, self._clock())
            except NameOrPathTaken:
                if "path" in changes:
                    await asyncio.to_thread(os.rename, changes["path"], record.path)
                raise CommandError(
                    ErrorCode.CONFLICT, f"a project named {command.name!r} exists"
                ) from None
            updated = await self._load(conn, record.uuid)
        self.on_change()
        return updated.view(await asyncio.to_thread(os.path.isdir, updated.path))

    async def delete(self, command: DeleteProject) -> Deleted:
        async with self._pool.acquire() as conn, conn.transaction():
            record = await self._load(conn, command.project_uuid)
            if record.managed and not command.delete_files:
                raise CommandError(
                    ErrorCode.CONFLICT,
                    f"project {record.name!r} is a folder of the projects directory, so it"
                    " stays a project while its folder is there: delete its files"
                    " (delete_files=true) or move the folder away",
                )
            if command.delete_files:
                live = await db.live_work(conn, record.uuid)
                if live:
                    raise CommandError(
                        ErrorCode.CONFLICT,
                        f"project {record.name!r} is in use ({', '.join(live)}):"
                        " its files are not deleted",
                    )
            await db.delete_project(conn, record.uuid)
            if command.delete_files:
                await asyncio.to_thread(_remove_folder, Path(record.path))
        self.on_change()
        return Deleted()

    # -- for the pipelines and the runs ----------------------------------------

    async def load(self, project_uuid: str) -> ProjectRecord:
        async with self._pool.acquire() as conn:
            return await self._load(conn, project_uuid)

    async def _load(self, conn: Any, project_uuid: str) -> ProjectRecord:
        record = await db.load_project(conn, project_uuid)
        if record is None:
            raise CommandError(ErrorCode.NOT_FOUND, f"no project {project_uuid}")
        return record

    # -- helpers -------------------------------------------------------------------

    async def _register(self, command: CreateProject) -> ProjectView:
        assert command.path is not None
        if command.template is not None:
            raise _invalid(
                "a registered folder is not written to: give a template or a path", "template"
            )
        raw = Path(command.path)
        if not raw.is_absolute():
            raise _invalid(f"{command.path!r} is not an absolute path", "path")
        folder, problem = await asyncio.to_thread(self._registrable, raw)
        if problem is not None:
            raise _invalid(problem, "path")
        record = self._new_record(command, folder, managed=False)
        try:
            async with self._pool.acquire() as conn:
                await db.insert_project(conn, record, command.idempotency_key)
        except NameOrPathTaken as taken:
            async with self._pool.acquire() as conn:
                same = await db.find_by_path(conn, record.path)
            if same is not None and same.name == record.name:
                return same.view(True)  # registered already, as asked: the same answer
            what = "name" if "name" in taken.constraint else "folder"
            raise CommandError(ErrorCode.CONFLICT, f"a project with this {what} exists") from None
        return record.view(True)

    def _new_record(self, command: CreateProject, folder: Path, *, managed: bool) -> ProjectRecord:
        now = self._clock()
        return ProjectRecord(
            project_uuid_of(folder),
            command.name,
            str(folder),
            managed,
            command.env_variables,
            now,
            now,
        )

    def _registrable(self, raw: Path) -> tuple[Path, str | None]:
        folder = raw.resolve()
        if not folder.is_dir():
            return folder, f"{str(raw)!r} is not a folder"
        projects = self.projects_dir.resolve()
        if folder == projects or projects.is_relative_to(folder):
            return folder, f"{str(raw)!r} holds the projects directory"
        if folder.is_relative_to(projects):
            return folder, f"{str(raw)!r} is inside the projects directory: it is a project already"
        return folder, None

    def _template(self, name: str | None) -> Path | None:
        if name is None:
            return None
        folder = self._templates_dir / name if self._templates_dir is not None else None
        if folder is None or not folder.is_dir():
            raise _invalid(f"no template {name!r} on this stack", "template")
        return folder

    async def record_new_folders(self) -> None:
        """Record the projects directory's folders that are not projects yet."""
        folders = await asyncio.to_thread(_project_folders, self.projects_dir)
        if not folders:
            return
        async with self._pool.acquire() as conn:
            known = {Path(r.path) for r in await db.list_projects(conn) if r.managed}
            now = self._clock()
            found = [
                ProjectRecord(project_uuid_of(f), f.name, str(f), True, {}, now, now)
                for f in folders
                if f not in known
            ]
            await db.insert_found_projects(conn, found)


def _project_folders(projects_dir: Path) -> list[Path]:
    projects_dir.mkdir(parents=True, exist_ok=True)
    return sorted(
        entry
        for entry in projects_dir.iterdir()
        if entry.is_dir() and not entry.is_symlink() and not entry.name.startswith(".")
    )


def _make_folder(folder: Path, template: Path | None) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        folder.mkdir()
    except FileExistsError:
        raise CommandError(ErrorCode.CONFLICT, f"a project named {folder.name!r} exists") from None
    if template is not None:
        try:
            shutil.copytree(template, folder, dirs_exist_ok=True, symlinks=True)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise


def _rename_folder(old: Path, new: Path) -> None:
    if new.exists():
        raise CommandError(ErrorCode.CONFLICT, f"a project named {new.name!r} exists")
    try:
        os.rename(old, new)
    except OSError as exc:
        raise CommandError(
            ErrorCode.CONFLICT, f"the folder cannot be renamed: {exc.strerror}"
        ) from None


def _remove_folder(folder: Path) -> None:
    try:
        shutil.rmtree(folder)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise CommandError(
            ErrorCode.CONFLICT, f"the folder cannot be deleted: {exc.strerror}"
        ) from None
