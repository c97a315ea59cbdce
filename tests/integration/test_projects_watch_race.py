"""A project created while the projects directory's watcher looks at it: the
project is the create's, with its folder, whichever looks first."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from pathlib import Path

import pytest

from orchest_scheduler import projects as projects_module
from orchest_scheduler.projects import Projects
from orchest_schemas.projects import CreateProject
from orchest_service.database import apply_migrations, create_pool
from support import eventually

LOCK_WAITS = (
    "SELECT count(*) FROM pg_stat_activity"
    " WHERE wait_event_type = 'Lock' AND datname = current_database()"
)


async def test_a_folder_the_watcher_sees_before_its_record_stays_the_creates(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = await create_pool(database_url, min_size=1, max_size=4, schema="scheduler")
    try:
        await apply_migrations(pool, "scheduler", "orchest_scheduler.migrations")
        projects = Projects(pool, tmp_path / "projects", None)
        loop = asyncio.get_running_loop()
        make_folder = projects_module._make_folder
        made = asyncio.Event()
        go_on = threading.Event()
        watchers: list[concurrent.futures.Future[None]] = []

        def made_then_held(folder: Path, template: Path | None) -> None:
            make_folder(folder, template)
            # The watcher looks now, on a connection of its own, while the
            # create goes on no further until the test lets it.
            watchers.append(asyncio.run_coroutine_threadsafe(projects.record_new_folders(), loop))
            loop.call_soon_threadsafe(made.set)
            assert go_on.wait(30), "the test did not let the create go on"

        async def watcher_recorded_or_waits() -> bool | None:
            # It records the folder (a create that made the folder before its
            # record) or waits for the create's record (one that made it first).
            return True if watchers[0].done() or await pool.fetchval(LOCK_WAITS) else None

        monkeypatch.setattr(projects_module, "_make_folder", made_then_held)
        create = asyncio.create_task(projects.create(CreateProject(name="search")))
        await asyncio.wait_for(made.wait(), 30)
        await eventually(watcher_recorded_or_waits, timeout=30, what="the watcher's look")
        go_on.set()
        view = await asyncio.wait_for(create, 30)
        await asyncio.wait_for(asyncio.wrap_future(watchers[0]), 30)

        folder = tmp_path / "projects" / "search"
        assert view.name == "search" and folder.is_dir()
        rows = await pool.fetch("SELECT uuid::text AS uuid, name, path FROM projects")
        assert [(r["uuid"], r["name"], r["path"]) for r in rows] == [
            (view.uuid, "search", str(folder))
        ]
    finally:
        await pool.close()
