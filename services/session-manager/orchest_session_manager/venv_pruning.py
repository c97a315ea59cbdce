"""The superseded venvs of process builds removed, as a docker build's
success untags the images it replaces (``docs/environments.md#process-builds``).

Once a process build succeeded, the folders of the environment's older
successful builds go, except those a job pins and those in use (a live
process, a live session's kernelspec: ``builders/in_use.py``); one in use is
left for the next build of the environment, or the next start of a session
manager on this host, to remove. Only this host's builds are removed (their
folders are on its disk). The rows stay, their ``pruned_time`` set.

A removal renames the folder to a tombstone beside it (``.pruned-<build>``,
one atomic step), says so in the build's row, then removes the tombstone's
tree: a crash before the rename leaves the venv whole, one after it a
tombstone that the next start removes (and the row, if it was not written,
is written then: the folder is gone).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path

import asyncpg

from orchest_schemas.environments import BuildView

from . import build_store as db
from .builders.in_use import users
from .runtime.process import session_kernelspecs

logger = logging.getLogger(__name__)

TOMBSTONE_PREFIX = ".pruned-"
"""A build folder being removed: ``<environment folder>/.pruned-<build>``."""


class VenvPruner:
    def __init__(
        self,
        pool: asyncpg.Pool,
        environments_dir: Path,
        *,
        owner: str,
        sessions_dir: Path | None = None,
    ) -> None:
        self._pool = pool
        self._dir = environments_dir
        self._owner = owner
        self._sessions_dir = sessions_dir

    async def after_success(self, project_uuid: str, environment_uuid: str) -> list[str]:
        """Remove what the environment's latest successful build (just
        written) supersedes; the builds whose venv went."""
        async with self._pool.acquire() as conn, conn.transaction():
            await db.lock_pins(conn, environment_uuid)  # a job pinning now pins the latest
            found = await db.superseded_venvs(conn, self._owner, project_uuid, environment_uuid)
        return await self._remove(found)

    async def reconcile(self) -> list[str]:
        """At start: the tombstones a crash left, then every venv of this host
        superseded meanwhile (one in use when its successor was built)."""
        left = await asyncio.to_thread(_remove_tombstones, self._dir)
        if left:
            logger.info("removed %d venv tombstone(s) a crash left", left)
        async with self._pool.acquire() as conn:
            found = await db.superseded_venvs(conn, self._owner)
        return await self._remove(found)

    async def _remove(self, builds: list[BuildView]) -> list[str]:
        folders = {b.uuid: folder for b in builds if (folder := _folder_of(b)) is not None}
        if not folders:
            return []
        used = await asyncio.to_thread(self._users, list(folders.values()))
        removed = []
        for build_uuid, folder in folders.items():
            if folder in used:
                logger.info("venv of build %s kept: %s uses it", build_uuid, used[folder])
                continue
            tombstone = await asyncio.to_thread(_bury, folder, build_uuid)
            async with self._pool.acquire() as conn:
                await db.mark_pruned(conn, build_uuid)
            if tombstone is not None:
                await asyncio.to_thread(shutil.rmtree, tombstone, True)
            logger.info("venv of build %s removed (%s)", build_uuid, folder)
            removed.append(build_uuid)
        return removed

    def _users(self, folders: list[Path]) -> dict[Path, str]:
        specs = session_kernelspecs(self._sessions_dir) if self._sessions_dir else []
        return users(folders, specs)


def _folder_of(build: BuildView) -> Path | None:
    """The build's folder (its venv's parent), if it is named as a build's."""
    if build.venv_path is None:
        return None
    folder = Path(build.venv_path).parent
    if folder.name != build.uuid:
        logger.warning("build %s: %s is not its folder: left alone", build.uuid, folder)
        return None
    return folder


def _bury(folder: Path, build_uuid: str) -> Path | None:
    """Rename the folder to its tombstone; None if it was gone already."""
    tombstone = folder.with_name(f"{TOMBSTONE_PREFIX}{build_uuid}")
    try:
        folder.rename(tombstone)
    except FileNotFoundError:
        return tombstone if tombstone.exists() else None
    return tombstone


def _remove_tombstones(environments_dir: Path) -> int:
    found = list(environments_dir.glob(f"*/*/{TOMBSTONE_PREFIX}*"))
    for tombstone in found:
        shutil.rmtree(tombstone, ignore_errors=True)
    return len(found)
