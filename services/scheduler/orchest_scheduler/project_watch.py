"""Watching project folders: a ``ProjectChanged`` event per burst of changes.

One scheduler replica watches (the one holding an advisory lock; another
takes over when it goes), so each change is announced once. It watches the
projects directory (a folder made there is a new project) and every
registered project's folder, with inotify through ``watchfiles``, skipping
what its default filter skips (``.git``, ``__pycache__``, ``node_modules``,
virtual environments, editors' swap files). Changes are gathered for
``DEBOUNCE_MS`` after the first one, then announced per project. The set of
folders is read again when projects are added or removed, and every
``REFRESH_SECONDS`` (another replica may have registered one).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

import asyncpg
from nats.js import JetStreamContext
from watchfiles import Change, DefaultFilter, awatch

from orchest_schemas.bus import HEADER_MSG_ID, BusNames
from orchest_schemas.events import MAX_CHANGED_PATHS, ProjectChanged

from . import project_store as db
from .pipeline_files import PIPELINE_SUFFIX

logger = logging.getLogger(__name__)

WATCH_LOCK = 0x70726A77  # "prjw": one watcher over all replicas
DEBOUNCE_MS = 150
STEP_MS = 30
REFRESH_SECONDS = 30.0
LEADER_RETRY_SECONDS = 5.0


def changes_by_project(roots: dict[Path, str], changed: Iterable[str]) -> dict[str, list[str]]:
    """The changed paths of each project, relative to its folder, sorted.

    A path belongs to the deepest project folder holding it (a registered
    project may sit inside another's folder); one in no project is dropped."""
    ordered = sorted(roots, key=lambda root: len(root.parts), reverse=True)
    found: dict[str, set[str]] = defaultdict(set)
    for raw in changed:
        path = Path(raw)
        for root in ordered:
            if path != root and path.is_relative_to(root):
                found[roots[root]].add(path.relative_to(root).as_posix())
                break
    return {project: sorted(paths) for project, paths in found.items()}


def change_event(project_uuid: str, paths: list[str]) -> ProjectChanged:
    return ProjectChanged(
        project_uuid=project_uuid,
        paths=paths[:MAX_CHANGED_PATHS],
        pipelines=[p for p in paths if p.endswith(PIPELINE_SUFFIX)][:MAX_CHANGED_PATHS],
        truncated=len(paths) > MAX_CHANGED_PATHS,
    )


def _with_new_folders_content(batch: set[tuple[Change, str]]) -> list[str]:
    """The changed paths, and what new folders already hold: a file made in a
    folder right after the folder may come before the folder is watched."""
    paths = {path for _, path in batch}
    for change, path in batch:
        if change is Change.added and os.path.isdir(path):
            for folder, dirs, files in os.walk(path):
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                paths.update(os.path.join(folder, name) for name in dirs + files)
                if len(paths) > MAX_CHANGED_PATHS:
                    return sorted(paths)
    return sorted(paths)


class ProjectWatcher:
    def __init__(
        self,
        pool: asyncpg.Pool,
        js: JetStreamContext,
        bus: BusNames,
        projects_dir: Path,
        record_new_folders: Callable[[], Awaitable[None]],
    ) -> None:
        self._pool = pool
        self._js = js
        self._bus = bus
        self._projects_dir = projects_dir
        self._record_new_folders = record_new_folders
        self._changed = asyncio.Event()

    def projects_changed(self) -> None:
        """A project was added, renamed or removed: watch the new set of folders."""
        self._changed.set()

    async def run(self, stopping: asyncio.Event) -> None:
        """Watch while this replica holds the watch lock; wait for it otherwise."""
        while not stopping.is_set():
            try:
                async with self._pool.acquire() as conn:
                    if await conn.fetchval("SELECT pg_try_advisory_lock($1)", WATCH_LOCK):
                        try:
                            await self._watch(stopping)
                        finally:
                            with contextlib.suppress(Exception):
                                await conn.execute("SELECT pg_advisory_unlock($1)", WATCH_LOCK)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                logger.warning("project watch interrupted: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), LEADER_RETRY_SECONDS)

    async def _watch(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            roots = await self._roots()
            self._changed.clear()
            stop = asyncio.Event()
            ender = asyncio.create_task(self._end_on(stop, stopping))
            # The projects directory holds the managed projects; registered
            # folders elsewhere are watched each on its own.
            watched = [self._projects_dir] + [
                root for root in roots if not root.is_relative_to(self._projects_dir)
            ]
            try:
                logger.info("watching %d project folder(s)", len(roots) - 1)
                async for batch in awatch(
                    *watched,
                    watch_filter=DefaultFilter(),
                    debounce=DEBOUNCE_MS,
                    step=STEP_MS,
                    stop_event=stop,
                    recursive=True,
                    ignore_permission_denied=True,
                ):
                    changed = await asyncio.to_thread(_with_new_folders_content, batch)
                    found = changes_by_project(roots, changed)
                    if "" in found:  # in the projects directory, outside known projects
                        await self._record_new_folders()
                        roots = await self._roots()
                        found = changes_by_project(roots, changed)
                    await self._announce(found)
            finally:
                ender.cancel()

    async def _end_on(self, stop: asyncio.Event, stopping: asyncio.Event) -> None:
        """End the current watch when stopping, when projects changed, or to refresh."""
        waits = [
            asyncio.ensure_future(stopping.wait()),
            asyncio.ensure_future(self._changed.wait()),
        ]
        try:
            await asyncio.wait(waits, timeout=REFRESH_SECONDS, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
            stop.set()

    async def _roots(self) -> dict[Path, str]:
        """Every project folder that exists, and the projects directory itself."""
        async with self._pool.acquire() as conn:
            records = await db.list_projects(conn)

        def existing() -> dict[Path, str]:
            self._projects_dir.mkdir(parents=True, exist_ok=True)
            roots = {Path(r.path): r.uuid for r in records if Path(r.path).is_dir()}
            roots.setdefault(self._projects_dir, "")
            return roots

        return await asyncio.to_thread(existing)

    async def _announce(self, changes: dict[str, list[str]]) -> None:
        for project_uuid, paths in changes.items():
            if not project_uuid:
                continue  # the projects directory's own entries
            event = change_event(project_uuid, paths)
            try:
                await self._js.publish(
                    self._bus.project_event(project_uuid),
                    event.to_bytes(),
                    headers={HEADER_MSG_ID: event.event_id},
                )
            except Exception as exc:  # a change missed is not lost data: the files are there
                logger.warning("project %s changed, not announced: %s", project_uuid, exc)
