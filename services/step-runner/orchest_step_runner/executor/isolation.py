"""Each step's own view of the file system: ``/project-dir``, ``/data`` and
``/pipeline.json``, as an Orchest step expects them, without Docker.

**Namespace mode.** A small process of the runner, the view holder
(``holder_main.py``, its runner's side in ``holder.py``), lives in a mount
namespace of its own (and a user namespace mapping the runner's user when
the runner is not root). A view is a tmpfs holding a bind of every top-level
entry of the host's ``/`` (so every host path still works), plus
``/project-dir`` (the run's project directory), ``/data`` (the stack's data
directory) and ``/pipeline.json`` (the run's definition, read-only). A script
step's view is kept for the attempts after it with the same project
directory and definition (``views.py``: made once, not per attempt; dropped
when idle, and always with the holder), on a folder of the holder's own
tmpfs. A script step's leader is started inside its view directly: the
runner's thread calling ``Popen`` enters the holder's namespace and the
view's root for that call only, and ``vfork``s the step there
(``entering.py``; as root, once checked at start-up). Else (not root), and
for a notebook kernel, the command is started as ``nsenter
--mount=<holder's> --root=<that view> --wdns=<cwd> -- command``: ``nsenter``
enters the namespace, ``chroot``s and ``exec``s the step, so the step keeps
``nsenter``'s pid. Either way the leader is the runner's child (exit codes,
signals and the process-tree sweep are unchanged), and the runner spawns
through ``vfork``. Nothing is mounted on the host. A pooled kernel's view is
made on a folder of its slot and dropped after its step (``prepare_slot``,
``fill``).

Why a holder rather than entering a namespace in the child (``preexec_fn``):
a ``preexec_fn`` makes Python ``fork`` the runner instead of ``vfork``ing it,
and forking a process of the runner's size costs 10-25 ms where a ``vfork``
costs under 1 ms (measured on the CI machine); the namespace work itself is
about 1 ms. ``nsenter`` (util-linux) costs about 1 ms of the step's start
(its own ``exec``, three libraries and the locale loaded, then the step's
``exec``): the direct start avoids it.

**Unisolated mode** (no namespaces here: not Linux, no ``nsenter``, or
neither root nor user namespaces allowed): the step sees the host's file
system as is. The SDK's data passing still stays per run: the executor puts a
``sitecustomize`` on the step's ``PYTHONPATH`` that points the SDK's
``Config.STEP_DATA_DIR`` (fixed at ``/project-dir/...`` in the SDK) into the
run's own project directory (``ORCHEST_PROJECT_DIR``);
``ORCHEST_PIPELINE_PATH`` already names the attempt's ``pipeline.json``.
``/data`` does not exist in this mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from orchest_schemas.commands import StepWork

from . import spawn
from .entering import EntryError, Within
from .environment import StepLaunch
from .holder import HOLDER_REPLY_SECONDS, IsolationError, ViewHolder
from .views import KeptViews

__all__ = ["Isolation", "IsolationError", "IsolationMode", "ViewHolder", "open_isolation"]

logger = logging.getLogger(__name__)

PROJECT_DIR = Path("/project-dir")
DATA_DIR = Path("/data")
PIPELINE_PATH = Path("/pipeline.json")
VIEW_FOLDER = "view"
"""The folder of a pooled kernel's slot (or of the probe) its root is mounted on."""
SDK_HOOK_DIR = Path(__file__).with_name("sdk_paths")
"""Holds the ``sitecustomize`` of the unisolated mode."""


class IsolationMode(enum.StrEnum):
    NAMESPACE = "mount-namespace"
    NONE = "none"


@dataclass(frozen=True)
class StepView:
    """How one attempt is started: its launch (environment as the step sees
    it; ``cwd`` and ``file`` stay the runner's paths), the step file's path as
    the step sees it, and the command prefix entering the view (empty:
    unisolated). ``within``: the view a script's leader is started in
    directly (``entering.py``), without the prefix."""

    launch: StepLaunch
    file: Path
    prefix: list[str]
    within: Within | None = None

    def start(self, command: Sequence[str], launch: StepLaunch) -> spawn.Leader:
        """Start a script's leader ``command`` in this view, in the step file's
        folder; ``launch``: its environment (and its ``cwd``, the runner's
        path, where the view is entered through the prefix: without
        ``within``, or when the thread could not enter it)."""
        if self.within is not None:
            try:
                return spawn.start(
                    command, cwd=self.file.parent, env=launch.env, within=self.within
                )
            except EntryError as exc:  # checked at start-up: not expected
                logger.warning("a step enters its view through nsenter: %s", exc)
        return spawn.start([*self.prefix, *command], cwd=launch.cwd, env=launch.env)


@dataclass(frozen=True)
class KernelSlot:
    """Where a pooled kernel waits for its step (``kernel_pool.py``): started
    after ``prefix`` in a root whose ``/project-dir``, ``/data`` and
    ``/pipeline.json`` are empty mount points until ``Isolation.fill`` binds
    the step's on them. Unisolated: no root, no prefix."""

    root: Path | None = None
    holder: ViewHolder | None = None
    prefix: list[str] = field(default_factory=list)


@dataclass
class Isolation:
    """The mode this runner gives its steps, chosen once at start-up."""

    mode: IsolationMode
    data_dir: Path
    reason: str | None = None
    """Why the mode is ``none``."""
    holder: ViewHolder | None = None
    kept: KeptViews = field(default_factory=KeptViews)
    """The script steps' views, kept for the attempts after."""
    direct: bool = False
    """Script steps are started inside their view by the runner's thread
    (``entering.py``: its check passed at start-up), not through ``nsenter``."""
    _restart: asyncio.Lock = field(default_factory=asyncio.Lock)

    def describe(self) -> str:
        if self.mode is IsolationMode.NAMESPACE:
            how = "directly" if self.direct else "through nsenter"
            return f"{self.mode.value} (/data: {self.data_dir}; started {how})"
        return f"{self.mode.value} ({self.reason})"

    @contextlib.asynccontextmanager
    async def view(self, work: StepWork, launch: StepLaunch) -> AsyncIterator[StepView]:
        """The attempt's view, for as long as the attempt runs."""
        if not self.isolated:
            yield StepView(replace(launch, env=self.step_env(launch)), launch.file, [])
            return
        assert self.holder is not None
        file = self.step_file(work, launch)
        binds = _binds(launch.project_dir, self.data_dir, launch.pipeline_path)
        holder = await self._live_holder(self.holder)
        async with self.kept.use(holder, binds, launch.pipeline) as root:
            prefix = holder.prefix(root, file.parent)
            within = holder.within(root) if self.direct else None
            yield StepView(replace(launch, env=self.step_env(launch)), file, prefix, within)

    @property
    def isolated(self) -> bool:
        return self.mode is IsolationMode.NAMESPACE and self.holder is not None

    def step_env(self, launch: StepLaunch) -> dict[str, str]:
        """The attempt's environment as its step sees it."""
        if not self.isolated:
            return _unisolated_env(launch.env)
        return {**launch.env, "ORCHEST_PROJECT_DIR": str(PROJECT_DIR)}

    def step_file(self, work: StepWork, launch: StepLaunch) -> Path:
        """The step's file as the step sees it."""
        return PROJECT_DIR / work.step.file_path if self.isolated else launch.file

    async def prepare_slot(self, root: Path) -> KernelSlot:
        """A slot for a kernel started before its step is known; ``root``
        does not exist yet. Its processes start in ``/`` of the slot's root."""
        if not self.isolated:
            return KernelSlot()
        assert self.holder is not None
        holder = await self._live_holder(self.holder)
        await asyncio.to_thread(root.mkdir)
        places = [(PROJECT_DIR.name, True), (DATA_DIR.name, True), (PIPELINE_PATH.name, False)]
        await holder.prepare(root, places)
        return KernelSlot(root, holder, holder.prefix(root, Path("/")))

    def slot_usable(self, slot: KernelSlot) -> bool:
        """The slot's holder is still the one that makes views (a new holder
        cannot fill a root of its predecessor)."""
        return slot.holder is None or (slot.holder is self.holder and slot.holder.alive)

    @contextlib.asynccontextmanager
    async def fill(
        self, work: StepWork, launch: StepLaunch, slot: KernelSlot
    ) -> AsyncIterator[StepView]:
        """The attempt's view in the root of ``slot`` (the kernel already in it
        sees it at once), for as long as the attempt runs; the root is
        dropped at the end."""
        if slot.holder is None or slot.root is None:
            yield StepView(replace(launch, env=self.step_env(launch)), launch.file, [])
            return
        try:
            project_dir = await asyncio.to_thread(Path(work.project_dir).absolute)
            await slot.holder.fill(
                slot.root, _binds(project_dir, self.data_dir, launch.pipeline_path)
            )
            file = self.step_file(work, launch)
            yield StepView(replace(launch, env=self.step_env(launch)), file, slot.prefix)
        finally:
            await release_slot(slot)

    async def _live_holder(self, holder: ViewHolder) -> ViewHolder:
        """The holder, started again if it ended (its views end with their steps)."""
        async with self._restart:
            if self.holder is holder and not holder.alive:
                logger.warning("the view holder ended (%s); starting another", holder.exit_status)
                await holder.close()
                self.holder = await ViewHolder.start()
            assert self.holder is not None
            return self.holder


async def release_slot(slot: KernelSlot) -> None:
    """Detach the slot's root (what still runs in it keeps it until it ends)."""
    if slot.holder is not None and slot.root is not None and slot.holder.alive:
        with contextlib.suppress(IsolationError):
            await slot.holder.drop(slot.root)


def _binds(project_dir: Path, data_dir: Path, pipeline_file: Path) -> list[tuple[Path, str, bool]]:
    return [
        (project_dir, PROJECT_DIR.name, False),
        (data_dir, DATA_DIR.name, False),
        (pipeline_file, PIPELINE_PATH.name, True),
    ]


def _unisolated_env(env: Mapping[str, str]) -> dict[str, str]:
    """The step's environment with the SDK hook first on ``PYTHONPATH``."""
    path = [str(SDK_HOOK_DIR)]
    if env.get("PYTHONPATH"):
        path.append(env["PYTHONPATH"])
    return {**env, "PYTHONPATH": os.pathsep.join(path)}


async def probe(holder: ViewHolder, data_dir: Path) -> tuple[str | None, bool]:
    """Make a view and look inside it: ``None`` when it works, else why not;
    and whether steps can be started in it directly (``entering.py``)."""
    with tempfile.TemporaryDirectory(prefix="orchest-isolation-") as scratch:
        base = Path(scratch)
        root = base / VIEW_FOLDER
        await asyncio.to_thread(_probe_files, base)
        try:
            await holder.make(root, _binds(base / "project", data_dir, base / "pipeline.json"))
        except IsolationError as exc:
            return f"cannot make a view: {exc}", False
        try:
            check = "test -f probe && test -d /data && test -f /pipeline.json && test -d /proc/self"
            process = await asyncio.create_subprocess_exec(
                *holder.prefix(root, PROJECT_DIR),
                "sh",
                "-c",
                check,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            _, err = await asyncio.wait_for(process.communicate(), HOLDER_REPLY_SECONDS)
            if process.returncode != 0:
                return f"the view check failed: {err.decode(errors='replace').strip()}", False
            why = "not root" if os.getuid() else await _direct_check(holder.within(root), check)
            if why is not None:
                logger.info("steps enter their views through nsenter: %s", why)
        finally:
            with contextlib.suppress(IsolationError):
                await holder.drop(root)
    return None, why is None


async def _direct_check(within: Within, check: str) -> str | None:
    """``check`` started directly in the view ``within``: ``None`` if it
    passed, else why not."""
    try:
        leader = spawn.start(["sh", "-c", check], cwd=PROJECT_DIR, env=os.environ, within=within)
    except OSError as exc:
        return f"cannot start a step in its view directly: {exc}"
    try:
        async with asyncio.timeout(HOLDER_REPLY_SECONDS):
            err = b""
            while chunk := await leader.output.read(4096):
                err += chunk
            await leader.exited
    finally:
        if leader.returncode is None:
            with contextlib.suppress(OSError):
                os.killpg(leader.pid, signal.SIGKILL)
        leader.close()
    if leader.returncode != 0:
        return f"the check started directly failed: {err.decode(errors='replace').strip()}"
    return None


def _probe_files(base: Path) -> None:
    (base / VIEW_FOLDER).mkdir()
    (base / "project").mkdir()
    (base / "project" / "probe").write_text("project")
    (base / "pipeline.json").write_text("{}")


@contextlib.asynccontextmanager
async def open_isolation(setting: str, data_dir: Path) -> AsyncIterator[Isolation]:
    """The isolation ``setting`` (``auto``, ``namespace`` or ``none``) asks for,
    with its holder while the runner serves. ``namespace`` where no view can
    be made raises ``IsolationError``."""
    data_dir = await asyncio.to_thread(data_dir.absolute)
    if setting == "none":
        yield Isolation(IsolationMode.NONE, data_dir, "turned off by the setting")
        return
    holder: ViewHolder | None = None
    reason: str | None = None
    direct = False
    if not sys.platform.startswith("linux"):
        reason = f"no mount namespaces on {sys.platform}"
    elif shutil.which("nsenter") is None:
        reason = "no nsenter (util-linux) on PATH"
    else:
        await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
        try:
            holder = await ViewHolder.start()
            reason, direct = await probe(holder, data_dir)
        except (OSError, IsolationError, ValueError) as exc:
            reason = f"no view holder: {exc}"
    if reason is not None and holder is not None:
        await holder.close()
        holder = None
    if reason is not None and setting == "namespace":
        raise IsolationError(reason)
    if holder is None:
        yield Isolation(IsolationMode.NONE, data_dir, reason)
        return
    isolation = Isolation(IsolationMode.NAMESPACE, data_dir, None, holder, direct=direct)
    try:
        yield isolation
    finally:
        isolation.kept.close()
        if isolation.holder is not None:
            await isolation.holder.close()
