"""Environment builds: the commands (build, cancel, list, resolve, pin) and a
task per build (``docs/environments.md``).

A build is written ``PENDING`` and answered at once; its task moves it to
``STARTED`` and to its end, each change written, then published as an
``EnvironmentBuildChanged``. Its output goes to the ``LOGS`` stream as it
comes, all of it published before the build's end is. A new build of an
environment cancels the builds of it still going.

A cancel may reach any session manager: the one that gets it writes the
build ``ABORTED`` and says so on the build's control subject (core NATS),
where the one running it stops it. A build's end is written only while it
is live, so a build cancelled elsewhere as it ends is discarded, never
told ``SUCCESS``, and prunes no image nor venv.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Unpack

import asyncpg
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext

from orchest_schemas.bus import BusNames
from orchest_schemas.environments import (
    MAX_BUILD_LIST,
    BuildEnvironment,
    BuildList,
    BuildView,
    CancelBuild,
    EnvironmentSpec,
    EnvironmentView,
    GetEnvironment,
    ListBuilds,
    PinEnvironments,
    Pinned,
    Resolution,
    ResolveEnvironment,
)
from orchest_schemas.errors import ErrorCode
from orchest_schemas.events import BuildLogChunk, EnvironmentBuildChanged
from orchest_schemas.status import BuildStatus
from orchest_service.broker import publish_told
from orchest_service.commands import request_command
from orchest_service.docker import DockerFailure
from orchest_service.errors import CommandError
from orchest_service.log_publisher import LogPublisher

from . import build_store as db
from .builders.bases import Base, BaseMissing, resolve_base
from .builders.docker import (
    BUILD_LABEL,
    ENVIRONMENT_LABEL,
    PROJECT_LABEL,
    DockerBuilder,
    image_tag,
)
from .builders.process import Built, ProcessBuilder
from .venv_pruning import VenvPruner

logger = logging.getLogger(__name__)

LOG_FLUSH_SECONDS = 0.2


class Builds:
    def __init__(
        self,
        pool: asyncpg.Pool,
        bus: BusNames,
        nc: Client,
        js: JetStreamContext,
        *,
        environments_dir: Path,
        builder: str,
        owner: str,
        command_timeout: float,
        process: ProcessBuilder | None = None,
        docker: DockerBuilder | None = None,
        sessions_dir: Path | None = None,
    ) -> None:
        """``sessions_dir``: the process sessions', whose kernelspecs may name
        a build's venv (not removed while they do)."""
        self._pool = pool
        self._bus = bus
        self._nc = nc
        self._js = js
        self._dir = environments_dir
        self._builder = builder
        self._owner = owner
        self._timeout = command_timeout
        self._process = process or ProcessBuilder()
        self._docker = docker
        self._venvs = VenvPruner(pool, environments_dir, owner=owner, sessions_dir=sessions_dir)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._ending: set[str] = set()
        """Builds whose end is written: a cancel no longer stops them."""
        self._cancels: Subscription | None = None

    async def listen(self) -> None:
        """Take the cancels of builds this host runs, whoever was asked."""
        self._cancels = await self._nc.subscribe(self._bus.all_build_cancels, cb=self._on_cancel)

    async def _on_cancel(self, msg: Msg) -> None:
        build_uuid = msg.subject.rsplit(".", 1)[-1]
        task = self._tasks.get(build_uuid)
        if task is not None and build_uuid not in self._ending:
            logger.info("build %s cancelled by another session manager", build_uuid)
            task.cancel()

    # -- commands ---------------------------------------------------------------------

    async def build(self, command: BuildEnvironment) -> BuildView:
        environment = await request_command(
            self._nc,
            self._bus.project_command("environments.get"),
            GetEnvironment(
                project_uuid=command.project_uuid, environment_uuid=command.environment_uuid
            ),
            EnvironmentView,
            timeout=self._timeout,
        )
        if environment.problems:
            raise CommandError(
                ErrorCode.INVALID,
                f"environment {environment.name!r} cannot be built: its files have problems",
                list(environment.problems),
            )
        spec = EnvironmentSpec.model_validate(
            environment.model_dump(include=set(EnvironmentSpec.model_fields))
        )
        async with self._pool.acquire() as conn:
            going = await db.live_of_environment(conn, environment.uuid)
            build = await db.insert(
                conn,
                uuid=str(uuid.uuid4()),
                project_uuid=environment.project_uuid,
                environment_uuid=environment.uuid,
                name=environment.name,
                builder=self._builder,
                spec=spec,
                owner=self._owner,
            )
        for old in going:
            await self._cancel(old, "a newer build of the environment started")
        await self._publish(build)
        task = asyncio.create_task(self._run(build, spec, Path(environment.project_dir)))
        self._tasks[build.uuid] = task
        task.add_done_callback(lambda _: self._tasks.pop(build.uuid, None))
        return build

    async def cancel(self, command: CancelBuild) -> BuildView:
        build = await self._get(command.build_uuid)
        if build.environment_uuid != command.environment_uuid:
            raise CommandError(ErrorCode.NOT_FOUND, f"no build {command.build_uuid} of it")
        if build.status.is_final:
            raise CommandError(ErrorCode.CONFLICT, f"the build ended already ({build.status})")
        return await self._cancel(build, "cancelled")

    async def list(self, command: ListBuilds) -> BuildList:
        async with self._pool.acquire() as conn:
            if command.build_uuid is not None:
                one = await db.get(conn, command.build_uuid)
                ok = one is not None and one.project_uuid == command.project_uuid
                return BuildList(builds=[one] if ok and one is not None else [])
            if command.environment_uuid is None:
                return BuildList(builds=await db.latest_of_project(conn, command.project_uuid))
            found = await db.of_environment(
                conn, command.project_uuid, command.environment_uuid, MAX_BUILD_LIST
            )
            return BuildList(builds=found)

    async def resolve(self, command: ResolveEnvironment) -> Resolution:
        async with self._pool.acquire() as conn:
            if command.job_uuid is not None:
                pinned = await db.pinned(conn, command.job_uuid, command.environment_uuid)
                if pinned is not None:
                    name = await db.name_of(conn, pinned.uuid)
                    return Resolution(managed=True, build=pinned, name=name)
            newest = await db.of_environment(
                conn, command.project_uuid, command.environment_uuid, 1
            )
            if not newest:
                return Resolution(managed=False)
            latest = newest[0]
            name = await db.name_of(conn, latest.uuid)
            success = await db.latest_success(conn, command.project_uuid, command.environment_uuid)
        if success is not None:
            return Resolution(managed=True, build=success, name=name)
        how = f"{latest.status}" + (f": {latest.reason}" if latest.reason else "")
        return Resolution(
            managed=True,
            name=name,
            reason=f"environment {name!r} has no successful build"
            f" (the latest, {latest.uuid}, is {how})",
        )

    async def pin(self, command: PinEnvironments) -> Pinned:
        pins: dict[str, str] = {}
        async with self._pool.acquire() as conn:
            for environment_uuid in dict.fromkeys(command.environment_uuids):
                async with conn.transaction():  # a prune does not remove what is pinned now
                    await db.lock_pins(conn, environment_uuid)
                    success = await db.latest_success(conn, command.project_uuid, environment_uuid)
                    if success is not None:
                        await db.pin(conn, command.job_uuid, environment_uuid, success.uuid)
                        pins[environment_uuid] = success.uuid
        return Pinned(pins=pins)

    # -- lifecycle --------------------------------------------------------------------

    async def reconcile(self) -> None:
        """Builds this host left going when it stopped end as ``ABORTED``."""
        async with self._pool.acquire() as conn:
            left = await db.live_owned_by(conn, self._owner)
        for build in left:
            if build.uuid not in self._tasks:
                await self._move(build.uuid, BuildStatus.ABORTED, reason="the builder restarted")

    async def reconcile_venvs(self) -> None:
        """The venvs superseded while in use, or left half removed, go (after
        the sessions' reconcile: a dead session's kernelspecs are gone then)."""
        try:
            await self._venvs.reconcile()
        except (OSError, asyncpg.PostgresError) as exc:
            logger.warning("superseded venvs not removed at start: %s", exc)

    async def close(self) -> None:
        if self._cancels is not None:
            with contextlib.suppress(Exception):
                await self._cancels.unsubscribe()
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    # -- a build ----------------------------------------------------------------------

    async def _run(self, build: BuildView, spec: EnvironmentSpec, project_dir: Path) -> None:
        logs = LogPublisher(
            self._js,
            self._bus.build_log(build.uuid),
            lambda offset, data: BuildLogChunk(build_uuid=build.uuid, offset=offset, data=data),
            LOG_FLUSH_SECONDS,
        )
        build_dir = self._dir / build.project_uuid / build.environment_uuid / build.uuid
        try:
            started = await self._move(build.uuid, BuildStatus.STARTED)
            if started is None:
                return  # cancelled before it started
            try:
                base = self._base(spec)
            except BaseMissing as missing:
                await logs.write(f"{missing}\n")
                built = Built(False, str(missing))
            else:
                built = await self._build(build, spec, base, project_dir, build_dir, logs.write)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await logs.write("\n[build cancelled]\n")
                await logs.close()
            await self._move(build.uuid, BuildStatus.ABORTED, reason="cancelled")
            await asyncio.to_thread(shutil.rmtree, build_dir, True)
            raise
        except Exception as exc:
            logger.exception("build %s failed in the builder", build.uuid)
            built = Built(False, f"builder error: {exc!r}")
        await logs.close()
        if built.ok:
            await self._succeed(build, built, build_dir)
        else:
            await self._move(
                build.uuid, BuildStatus.FAILURE, reason=built.reason, exit_code=built.exit_code
            )
            await asyncio.to_thread(shutil.rmtree, build_dir, True)

    async def _succeed(self, build: BuildView, built: Built, build_dir: Path) -> None:
        """Write the build's success, prune the images it replaces, then tell
        it (what is told is done); discard it if it was cancelled meanwhile."""
        self._ending.add(build.uuid)
        try:
            async with self._pool.acquire() as conn:
                ended = await db.transition(
                    conn,
                    build.uuid,
                    BuildStatus.SUCCESS,
                    exit_code=0,
                    venv_path=built.venv_path,
                    image=built.image,
                    size_bytes=built.size_bytes,
                )
            if ended is None:  # cancelled by another session manager as it ended
                logger.info("build %s ended after its cancel: discarded", build.uuid)
                if built.image is not None and self._docker is not None:
                    with contextlib.suppress(DockerFailure):
                        await self._docker.remove(built.image)
                await asyncio.to_thread(shutil.rmtree, build_dir, True)
                return
            if built.image is not None:
                await self._prune_images(build.environment_uuid, built.image)
            await self._prune_venvs(build)  # of older process builds, whatever this one made
            await self._publish(ended)
        finally:
            self._ending.discard(build.uuid)

    def _base(self, spec: EnvironmentSpec) -> Base:
        docker = self._builder == "docker"
        base = resolve_base(spec.base_image, gpu_support=spec.gpu_support, docker=docker)
        if spec.language != "python" and base.default:
            what = "a process build makes" if not docker else "the kernel image has"
            raise BaseMissing(f"language {spec.language!r}: {what} Python only")
        return base

    async def _build(
        self,
        build: BuildView,
        spec: EnvironmentSpec,
        base: Base,
        project_dir: Path,
        build_dir: Path,
        write: Callable[[str], Awaitable[None]],
    ) -> Built:
        if self._builder != "docker":
            return await self._process.build(spec, project_dir, build_dir, write)
        if self._docker is None:
            return Built(False, "no Docker engine answered when the builder started")
        labels = {
            ENVIRONMENT_LABEL: build.environment_uuid,
            PROJECT_LABEL: build.project_uuid,
            BUILD_LABEL: build.uuid,
        }
        tag = image_tag(build.environment_uuid, build.uuid)
        return await self._docker.build(spec, base.image, labels, tag, write, project_dir)

    async def _prune_images(self, environment_uuid: str, latest: str) -> None:
        """Remove the environment's images but ``latest`` (its new build's)
        and those jobs pin (an image a running container uses is left)."""
        if self._docker is None:
            return
        async with self._pool.acquire() as conn, conn.transaction():
            await db.lock_pins(conn, environment_uuid)  # a job pinning now pins the latest
            kept = [latest, *await db.pinned_images(conn, environment_uuid)]
        try:
            await self._docker.prune(environment_uuid, kept)
        except DockerFailure as exc:
            logger.warning("images of environment %s not pruned: %s", environment_uuid, exc)

    async def _prune_venvs(self, build: BuildView) -> None:
        """Remove the venvs the build supersedes (one in use is left)."""
        try:
            await self._venvs.after_success(build.project_uuid, build.environment_uuid)
        except (OSError, asyncpg.PostgresError) as exc:
            logger.warning("venvs of environment %s not pruned: %s", build.environment_uuid, exc)

    async def _cancel(self, build: BuildView, reason: str) -> BuildView:
        task = self._tasks.get(build.uuid)
        if task is not None:
            if build.uuid not in self._ending:
                task.cancel()
            await asyncio.wait({task})
            return await self._get(build.uuid)
        # Another session manager runs it (or ran it, and stopped): written
        # first, so that its end can no longer be written, then said.
        ended = await self._move(build.uuid, BuildStatus.ABORTED, reason=reason)
        if ended is not None:
            await self._nc.publish(self._bus.cancel_build(build.uuid), b"")
        return ended or await self._get(build.uuid)

    async def _move(
        self, build_uuid: str, status: BuildStatus, **outcome: Unpack[db.BuildOutcome]
    ) -> BuildView | None:
        """Move a live build to ``status`` (with what it ended with) and publish
        the change; None when it had ended already."""
        async with self._pool.acquire() as conn:
            moved = await db.transition(conn, build_uuid, status, **outcome)
        if moved is not None:
            await self._publish(moved)
        return moved

    async def _get(self, build_uuid: str) -> BuildView:
        async with self._pool.acquire() as conn:
            build = await db.get(conn, build_uuid)
        if build is None:
            raise CommandError(ErrorCode.NOT_FOUND, f"no build {build_uuid}")
        return build

    async def _publish(self, build: BuildView) -> None:
        event = EnvironmentBuildChanged(
            project_uuid=build.project_uuid,
            environment_uuid=build.environment_uuid,
            build_uuid=build.uuid,
            status=build.status,
            reason=build.reason,
            exit_code=build.exit_code,
        )
        subject = self._bus.environment_build_event(build.project_uuid, build.environment_uuid)
        await publish_told(self._js, subject, event, f"build {build.uuid}")
