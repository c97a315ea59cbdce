"""A project's files: list a folder, read and write a small text file, create
a step file from a template, move and delete. The command handlers, and the
file work they run in a thread.

Every path is resolved inside the project, symlinks followed: ``..``, an
absolute path or a symlink leading out is refused (422) before anything is
touched, as the run API refuses a step file outside its project. A text file
is written atomically, conditional on its etag like a pipeline file.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

from orchest_schemas.errors import ErrorCode, ErrorDetail
from orchest_schemas.projects import (
    MAX_FILE_MESSAGE_BYTES,
    MAX_TEXT_FILE_BYTES,
    CreateStepFile,
    Deleted,
    DeleteFile,
    FileContent,
    FileEntry,
    FileList,
    ListFiles,
    MoveFile,
    ReadFile,
    WriteFile,
)
from orchest_service.errors import CommandError

from . import pipeline_files as files
from . import step_templates
from .pipeline_files import PipelineFileError
from .project_pipelines import Pipelines

MAX_LISTED = 2000


def _invalid(message: str, field: str) -> CommandError:
    return CommandError(
        ErrorCode.INVALID, message, [ErrorDetail(loc=[field], msg=message, type="path_invalid")]
    )


def _inside(root: Path, relative: str, field: str = "path") -> Path:
    """The file ``relative`` names, symlinks followed, inside the project."""
    try:
        return files.inside(root, relative)
    except PipelineFileError as exc:
        raise _invalid(str(exc), field) from None


def _entry_at(root: Path, relative: str, field: str = "path") -> Path:
    """The directory entry ``relative`` names (a symlink itself, not its
    target), in a folder inside the project."""
    _inside(root, relative, field)  # refuses "..", absolute paths and links leading out
    folder = (root / relative.rstrip("/")).parent.resolve()
    if not folder.is_relative_to(root.resolve()):
        raise _invalid(f"{relative!r} leads outside the project", field)
    return folder / Path(relative.rstrip("/")).name


def _failed(what: str, exc: OSError) -> CommandError:
    if isinstance(exc, FileNotFoundError):
        return CommandError(ErrorCode.NOT_FOUND, f"{what}: no such file or folder")
    if isinstance(exc, FileExistsError):
        return CommandError(ErrorCode.CONFLICT, f"{what}: it exists")
    return CommandError(ErrorCode.CONFLICT, f"{what}: {exc.strerror}")


class Browser:
    def __init__(self, pipelines: Pipelines) -> None:
        self._pipelines = pipelines

    async def list(self, command: ListFiles) -> FileList:
        root = await self._pipelines.root(command.project_uuid)
        return await asyncio.to_thread(_list, root, command.path)

    async def read(self, command: ReadFile) -> FileContent:
        root = await self._pipelines.root(command.project_uuid)
        return await asyncio.to_thread(_read, root, command.path)

    async def write(self, command: WriteFile) -> FileContent:
        root = await self._pipelines.root(command.project_uuid)
        async with self._pipelines.file_lock(command.project_uuid, command.path):
            return await asyncio.to_thread(
                _write, root, command.path, command.content, command.if_match
            )

    async def create_step_file(self, command: CreateStepFile) -> FileContent:
        root = await self._pipelines.root(command.project_uuid)
        problem = step_templates.suffix_problem(command.template, command.path)
        if problem is not None:
            raise _invalid(problem, "path")
        text = step_templates.content(command.template, command.kernel)
        return await asyncio.to_thread(_create, root, command.path, text)

    async def move(self, command: MoveFile) -> FileEntry:
        root = await self._pipelines.root(command.project_uuid)
        return await asyncio.to_thread(_move, root, command.source, command.destination)

    async def delete(self, command: DeleteFile) -> Deleted:
        root = await self._pipelines.root(command.project_uuid)
        await asyncio.to_thread(_delete, root, command.path, command.recursive)
        return Deleted()


# -- blocking work (in a thread) ---------------------------------------------------


def _entry(root: Path, path: Path) -> FileEntry:
    info = path.lstat()
    kind = "folder" if path.is_dir() else "file" if path.is_file() else "other"
    return FileEntry(
        name=path.name,
        path=path.relative_to(root).as_posix(),
        kind=kind,
        size=info.st_size if kind == "file" else 0,
        modified=datetime.fromtimestamp(info.st_mtime, UTC),
    )


def _list(root: Path, relative: str) -> FileList:
    real_root = root.resolve()
    folder = _inside(root, relative) if relative.strip("/") else real_root
    try:
        names = sorted(os.listdir(folder))
    except NotADirectoryError:
        raise _invalid(f"{relative!r} is not a folder", "path") from None
    except OSError as exc:
        raise _failed(relative or ".", exc) from None
    entries = []
    for name in names[:MAX_LISTED]:
        try:
            entries.append(_entry(real_root, folder / name))
        except OSError:
            continue  # gone meanwhile
    entries.sort(key=lambda e: (e.kind != "folder", e.name.lower()))
    listed = folder.relative_to(real_root).as_posix()
    return FileList(
        path="" if listed == "." else listed, entries=entries, truncated=len(names) > MAX_LISTED
    )


def _read(root: Path, relative: str) -> FileContent:
    path = _inside(root, relative)
    try:
        if not path.is_file():
            raise _invalid(f"{relative!r} is not a file", "path")
        if path.stat().st_size > MAX_TEXT_FILE_BYTES:
            raise CommandError(
                ErrorCode.PAYLOAD_TOO_LARGE,
                f"{relative} is larger than the {MAX_TEXT_FILE_BYTES} bytes read as text",
            )
        data = path.read_bytes()
    except OSError as exc:
        raise _failed(relative, exc) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _invalid(f"{relative!r} is not UTF-8 text", "path") from None
    answer = FileContent(path=relative, etag=files.etag_of(data), content=text)
    if len(answer.to_bytes()) > MAX_FILE_MESSAGE_BYTES:
        raise CommandError(ErrorCode.PAYLOAD_TOO_LARGE, f"{relative} is too large to send as text")
    return answer


def _write(root: Path, relative: str, content: str, if_match: str | None) -> FileContent:
    path = _inside(root, relative)
    data = content.encode("utf-8")
    try:
        if path.is_dir():
            raise _invalid(f"{relative!r} is a folder", "path")
        if if_match is not None:
            current = files.etag_of(path.read_bytes()) if path.exists() else None
            if current != if_match:
                raise CommandError(
                    ErrorCode.PRECONDITION_FAILED,
                    f"{relative} changed since it was read: read it again",
                )
        files.write_atomically(path, data)
    except OSError as exc:
        raise _failed(relative, exc) from None
    return FileContent(path=relative, etag=files.etag_of(data), content="")


def _create(root: Path, relative: str, text: str) -> FileContent:
    path = _inside(root, relative)
    data = text.encode("utf-8")
    try:
        files.create_atomically(path, data)
    except OSError as exc:
        raise _failed(relative, exc) from None
    return FileContent(path=relative, etag=files.etag_of(data), content=text)


def _move(root: Path, source: str, destination: str) -> FileEntry:
    src = _entry_at(root, source, "source")
    dst = _entry_at(root, destination, "destination")
    if not os.path.lexists(src):
        raise CommandError(ErrorCode.NOT_FOUND, f"{source}: no such file or folder")
    if os.path.lexists(dst):
        raise CommandError(ErrorCode.CONFLICT, f"{destination}: it exists")
    if dst.is_relative_to(src):
        raise _invalid(f"{destination!r} is inside {source!r}", "destination")
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.rename(src, dst)
    except OSError as exc:
        raise _failed(source, exc) from None
    return _entry(root.resolve(), dst)


def _delete(root: Path, relative: str, recursive: bool) -> None:
    path = _entry_at(root, relative)
    try:
        if path.is_dir() and not path.is_symlink():
            if recursive:
                shutil.rmtree(path)
            else:
                try:
                    path.rmdir()
                except OSError:
                    raise CommandError(
                        ErrorCode.CONFLICT, f"{relative} is a folder that is not empty: recursive"
                    ) from None
        else:
            path.unlink()
    except OSError as exc:
        raise _failed(relative, exc) from None
