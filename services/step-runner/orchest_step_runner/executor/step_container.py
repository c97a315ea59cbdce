"""A step container, described: the options the runner's settings give, the
attempt's files (the pipeline definition as the Orchest SDK reads it:
``environment.sdk_pipeline_file``; copied in as a tar when they cannot be
mounted), and the create body built with the shared adapter's
``container_config``."""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchest_schemas.commands import StepWork
from orchest_service.docker import DockerTimeouts, Limits, Mount, container_config

from .cells import START_SECONDS

PROJECT_DIR = Path("/project-dir")
PIPELINE_PATH = Path("/pipeline.json")
DATA_DIR = Path("/data")


@dataclass(frozen=True)
class DockerOptions:
    """How the executor makes containers (from the runner's settings)."""

    default_image: str = "orchest/kernel-python:latest"
    environment_images: Mapping[str, str] = field(default_factory=dict)
    user: str | None = None
    """``None``: the owner of the project directory."""
    memory_bytes: int = 4 * 1024**3
    cpus: float = 2.0
    pids_limit: int = 1024
    data_dir: Path = Path("/var/lib/orchest/data")
    kill_grace_seconds: float = 1.0
    kernel_start_seconds: float = START_SECONDS
    """How long a notebook's kernel may take to answer once its container runs."""
    copy_files: bool | None = None
    """Copy the attempt's files into its container rather than mount them;
    ``None``: when the runner runs in a container."""
    timeouts: DockerTimeouts = field(default_factory=DockerTimeouts)

    def image_of(self, work: StepWork) -> str:
        if work.environment_image is not None:  # the environment's build
            return work.environment_image
        return self.environment_images.get(work.step.environment) or self.default_image

    @property
    def limits(self) -> Limits:
        return Limits(self.memory_bytes, self.cpus, self.pids_limit)


def archive(files: Mapping[Path, Path]) -> bytes:
    """A tar of ``files`` (container path: runner's file), read-only for all."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path, source in files.items():
            content = source.read_bytes()
            info = tarfile.TarInfo(str(path.relative_to("/")))
            info.size, info.mode, info.mtime = len(content), 0o444, int(time.time())
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


@dataclass(frozen=True)
class Launch:
    """A step container, described: what ``create`` is given, less the command."""

    file: Path
    """The step file, on the runner's side."""
    image: str
    name: str
    cwd: Path
    env: dict[str, str]
    project_dir: Path
    data_dir: Path
    files: dict[Path, Path]
    """Container path to the runner's file: mounted read-only, or copied in."""
    scratch_dir: Path
    """The attempt's private directory on the runner (absolute)."""
    labels: dict[str, str]
    user: str


def step_container_config(
    launch: Launch, command: list[str], options: DockerOptions, *, mount_files: bool
) -> dict[str, Any]:
    """The ``POST /containers/create`` body of a step container."""
    mounts = [
        Mount(launch.project_dir, PROJECT_DIR),
        Mount(launch.data_dir, DATA_DIR, create=True),  # made on the host when missing
    ]
    if mount_files:
        mounts += [Mount(source, path, read_only=True) for path, source in launch.files.items()]
    return container_config(
        launch.image,
        command,
        env=launch.env,
        user=launch.user,
        labels=launch.labels,
        limits=options.limits,
        mounts=mounts,
        working_dir=launch.cwd,
    )
