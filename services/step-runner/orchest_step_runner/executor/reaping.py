"""Who started a step container, and the rule by which a starting runner
removes the step containers that dead runners left (labels, so that
nothing is orphaned: ``docs/runs.md#reaping``).

Every step container carries its runner's id (``orchest.runner``), host name
(``orchest.runner.host``), process (``orchest.runner.process``: boot id, pid
namespace, pid and start time, which no other process shares) and, when the
runner itself runs in a container of the same engine, that container's id
(``orchest.runner.container``). See ``orphan_reason`` for the rule.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchest_service.docker import DockerEngine

logger = logging.getLogger(__name__)

LABEL_RUN = "orchest.run"
LABEL_STEP = "orchest.step"
LABEL_ATTEMPT = "orchest.attempt"
LABEL_RUNNER = "orchest.runner"
LABEL_HOST = "orchest.runner.host"
LABEL_PROCESS = "orchest.runner.process"
"""``<boot id>/<pid namespace>/<pid>/<start ticks>`` of the runner's process."""
LABEL_CONTAINER = "orchest.runner.container"
"""The runner's own container, when it runs in one on the same engine."""

_CONTAINER_FILE = re.compile(r"/containers/([0-9a-f]{64})/(?:hostname|hosts|resolv\.conf)\s")


@dataclass(frozen=True)
class RunnerProcess:
    """A runner's process, exactly: a pid is reused, a pid with its start time
    (clock ticks since boot) in one boot and one pid namespace is not."""

    boot_id: str
    pid_namespace: int
    pid: int
    start_ticks: int

    @property
    def label(self) -> str:
        return f"{self.boot_id}/{self.pid_namespace}/{self.pid}/{self.start_ticks}"

    @classmethod
    def parse(cls, label: str | None) -> RunnerProcess | None:
        parts = (label or "").split("/")
        if len(parts) != 4 or not all(parts):
            return None
        try:
            return cls(parts[0], int(parts[1]), int(parts[2]), int(parts[3]))
        except ValueError:
            return None

    @classmethod
    def current(cls) -> RunnerProcess:
        pid = os.getpid()
        ticks = start_ticks(pid)
        assert ticks is not None
        return cls(boot_id(), os.stat("/proc/self/ns/pid").st_ino, pid, ticks)


def boot_id() -> str:
    return Path("/proc/sys/kernel/random/boot_id").read_text().strip()


def start_ticks(pid: int) -> int | None:
    """When the process started, in clock ticks since boot; ``None``: no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command (in parentheses, holding anything) is field 2; field 22 is starttime.
    fields = stat.rpartition(")")[2].split()
    return int(fields[19])


def process_runs(process: RunnerProcess) -> bool:
    """Whether ``process`` (of this boot and pid namespace) still runs."""
    return start_ticks(process.pid) == process.start_ticks


def own_container_id() -> str | None:
    """The id of the Docker container this process runs in, if any: Docker
    bind-mounts ``/etc/hostname``, ``/etc/hosts`` and ``/etc/resolv.conf`` from
    the container's own directory, whatever its network."""
    with contextlib.suppress(OSError):
        found = _CONTAINER_FILE.search(Path("/proc/self/mountinfo").read_text())
        if found:
            return found.group(1)
    return None


@dataclass(frozen=True)
class RunnerIdentity:
    """What a runner writes on its containers so that a later runner can tell
    whether it still lives."""

    runner_id: str
    host: str
    """The runner's ``instance_host``."""
    process: RunnerProcess
    container: str | None = None
    """The runner's own container on the engine it uses (``None``: not in one)."""

    def labels(self) -> dict[str, str]:
        labels = {
            LABEL_RUNNER: self.runner_id,
            LABEL_HOST: self.host,
            LABEL_PROCESS: self.process.label,
        }
        if self.container:
            labels[LABEL_CONTAINER] = self.container
        return labels


def instant(text: str | None) -> datetime:
    """A Docker timestamp (RFC 3339, nanoseconds; the first 6 digits are kept)."""
    return datetime.fromisoformat(text or "0001-01-01T00:00:00Z")


def orphan_reason(
    labels: dict[str, str],
    created: datetime,
    me: RunnerIdentity,
    runner_container: dict[str, Any] | None,
) -> str | None:
    """Why the step container (``labels``, ``created``) is an orphan that ``me``
    removes at its start; ``None`` leaves it. ``runner_container`` is the
    inspection of the container its labels name as its runner's, if any.

    Never ``me``'s own. Otherwise, an orphan when its runner ran:

    - in a container (``orchest.runner.container``) that is gone, stopped, or
      (re)started after the step container was created: the engine knows,
      whatever host name or pid namespace the runner had. This covers the
      runner's own prefix: a runner restarted in its container removes what
      its predecessor there left;
    - as a process of ``me``'s host name (``orchest.runner.host``), in another
      boot of the host, or in ``me``'s pid namespace and no longer running (its
      pid free, or taken by another process).

    A runner in another pid namespace and in no container of this engine is
    left alone: its liveness cannot be seen from here.
    """
    if labels.get(LABEL_RUNNER) == me.runner_id:
        return None
    container_id = labels.get(LABEL_CONTAINER)
    if container_id:
        if runner_container is None:
            return "its runner's container is gone"
        state = runner_container.get("State") or {}
        if not state.get("Running"):
            return "its runner's container stopped"
        if instant(state.get("StartedAt")) > created:
            return "its runner's container restarted since"
        if container_id != me.container:
            return None  # a live runner in another container
    if labels.get(LABEL_HOST) != me.host:
        return None
    runner = RunnerProcess.parse(labels.get(LABEL_PROCESS))
    if runner is None:
        return None
    if runner.boot_id != me.process.boot_id:
        return "its runner ran before the host's last boot"
    if runner.pid_namespace == me.process.pid_namespace and not process_runs(runner):
        return "its runner is gone"
    return None


async def with_own_container(engine: DockerEngine, me: RunnerIdentity) -> RunnerIdentity:
    """``me`` with its container, if it runs in a running container of ``engine``."""
    from orchest_service.docker import DockerFailure  # docker's only: not at start

    candidate = own_container_id()
    if candidate is None:
        return me
    try:
        info = await engine.inspect(candidate)
    except DockerFailure:
        return me  # in a container of another engine
    if not (info["State"] or {}).get("Running"):
        return me
    return RunnerIdentity(me.runner_id, me.host, me.process, candidate)


async def reap(engine: DockerEngine, me: RunnerIdentity) -> list[str]:
    """Remove every step container of ``engine`` that ``orphan_reason`` calls an
    orphan; returns their ids."""
    from orchest_service.docker import DockerFailure, label_filter  # docker's only

    runners: dict[str, dict[str, Any] | None] = {}
    reaped = []
    for listed in await engine.list(label_filter(LABEL_RUNNER)):
        try:
            info = await engine.inspect(listed["Id"])
        except DockerFailure:
            continue  # removed meanwhile
        labels = info["Config"].get("Labels") or {}
        container_id = labels.get(LABEL_CONTAINER)
        if container_id and container_id not in runners:
            try:
                runner = await engine.inspect(container_id)
                runners[container_id] = {"State": runner["State"]}
            except DockerFailure:
                runners[container_id] = None
        reason = orphan_reason(
            labels, instant(info.get("Created")), me, runners.get(container_id or "")
        )
        if reason is None:
            continue
        logger.warning(
            "removing step container %s (run %s, step %s, attempt %s): %s",
            listed["Id"][:12],
            labels.get(LABEL_RUN),
            labels.get(LABEL_STEP),
            labels.get(LABEL_ATTEMPT),
            reason,
        )
        with contextlib.suppress(DockerFailure):
            if await engine.remove(listed["Id"]):
                reaped.append(listed["Id"])
    return reaped
