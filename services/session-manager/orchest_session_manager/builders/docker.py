"""A docker build: the base image plus the setup script as one ``RUN``
layer, built through the Docker adapter (aiodocker), tagged per build,
labelled, never pulled (``docs/environments.md#docker-builds``).

The build context holds the ``Dockerfile``, the script, the CA bundle of
the building machine (``ORCHEST_BUILD_CA_BUNDLE``, so ``pip`` reaches PyPI
through a TLS-inspecting proxy; a public certificate, removed from the
image's files by the ``RUN``) and the project's files (as a job's snapshot
takes them, without the project's ``.orchest``), copied to ``/project-dir``,
where the script runs: ``pip install -r requirements.txt`` works, as in
Orchest. A step's or a kernel's container mounts the project over them."""

from __future__ import annotations

import asyncio
import io
import re
import tarfile
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import BinaryIO

from orchest_schemas.environments import EnvironmentSpec
from orchest_service.docker import DockerEngine, DockerFailure, DockerTimeouts
from orchest_service.project_tree import Kind, link_inside, walk

from .process import Built

ENVIRONMENT_LABEL = "orchest.environment"
PROJECT_LABEL = "orchest.project"
BUILD_LABEL = "orchest.build"
REPOSITORY = "orchest-env"
ORCHEST_FOLDER = ".orchest"
"""The project's own folder of Orchest's files (environments...): not sent."""
_EXIT = re.compile(r"returned a non-zero code: (\d+)")

Write = Callable[[str], Awaitable[None]]

DOCKERFILE = """\
FROM {base}
COPY project/ /project-dir/
COPY setup_script.sh environment.sh build-ca.crt /tmp/orchest-build/
WORKDIR /project-dir
RUN set -e; \\
    if [ -s /tmp/orchest-build/build-ca.crt ]; then \\
        export PIP_CERT=/tmp/orchest-build/build-ca.crt \\
            SSL_CERT_FILE=/tmp/orchest-build/build-ca.crt \\
            REQUESTS_CA_BUNDLE=/tmp/orchest-build/build-ca.crt; \\
    fi; \\
    . /tmp/orchest-build/environment.sh; \\
    status=0; bash /tmp/orchest-build/setup_script.sh || status=$?; \\
    rm -rf /tmp/orchest-build; exit $status
"""


def image_tag(environment_uuid: str, build_uuid: str) -> str:
    return f"{REPOSITORY}/{environment_uuid.lower()}:{build_uuid}"


class DockerBuilder:
    def __init__(
        self,
        kernel_image: str,
        *,
        docker_url: str | None,
        timeouts: DockerTimeouts,
        ca_bundle: Path | None,
    ) -> None:
        self._kernel_image = kernel_image
        self._url = docker_url
        self._timeouts = timeouts
        self._ca_bundle = ca_bundle

    async def build(
        self,
        spec: EnvironmentSpec,
        base: str | None,
        labels: dict[str, str],
        tag: str,
        write: Write,
        project_dir: Path,
    ) -> Built:
        """Build ``tag`` FROM ``base`` (None: the kernel image) with the files
        of ``project_dir``."""
        source = base or self._kernel_image
        # In a file: a project can be large. Anonymous: gone when closed.
        with tempfile.TemporaryFile() as context:
            await asyncio.to_thread(
                _write_context, context, spec, source, self._ca_bundle, project_dir
            )
            return await self._build(context, source, labels, tag, write)

    async def _build(
        self, context: BinaryIO, source: str, labels: dict[str, str], tag: str, write: Write
    ) -> Built:
        async with DockerEngine.open(self._url, self._timeouts) as engine:
            try:
                await engine.inspect_image(source)
            except DockerFailure as exc:
                return Built(False, f"the base image {source} is not on the Docker engine: {exc}")
            await write(f"$ docker build -t {tag} (FROM {source})\n")
            try:
                async for text in engine.build(context, tag, labels):
                    await write(text)
            except DockerFailure as exc:
                await write(f"{exc}\n")
                code = _EXIT.search(str(exc))
                exit_code = int(code.group(1)) if code else None
                reason = (
                    f"the setup script failed (exit code {exit_code})"
                    if exit_code is not None
                    else f"the build failed: {exc}"
                )
                return Built(False, reason, exit_code)
            image = await engine.inspect_image(tag)
        return Built(True, None, 0, None, int(image.get("Size") or 0), image=tag)

    async def remove(self, tag: str) -> None:
        """Remove one build's image (a build cancelled as it ended)."""
        async with DockerEngine.open(self._url, self._timeouts) as engine:
            await engine.remove_image(tag)

    async def prune(self, environment_uuid: str, kept: list[str]) -> list[str]:
        """Remove the environment's images but ``kept``; the tags removed."""
        removed = []
        async with DockerEngine.open(self._url, self._timeouts) as engine:
            for image in await engine.images(f"{ENVIRONMENT_LABEL}={environment_uuid}"):
                # A tag at a time: an image that a kept tag also names only loses the other.
                for tag in [t for t in image.get("RepoTags") or [] if t not in kept]:
                    if await engine.remove_image(tag):
                        removed.append(tag)
        return removed


def _write_context(
    context: BinaryIO,
    spec: EnvironmentSpec,
    base: str,
    ca_bundle: Path | None,
    project_dir: Path,
) -> None:
    """Write the build context, a tar, into ``context`` and go back to its
    start. Reads files: run it in a thread."""
    env = "".join(f"export {k}={_quoted(v)}\n" for k, v in spec.env_variables.items())
    files = {
        "Dockerfile": DOCKERFILE.format(base=base).encode(),
        "environment.sh": env.encode(),
        "setup_script.sh": spec.setup_script.encode(),
        "build-ca.crt": ca_bundle.read_bytes() if ca_bundle and ca_bundle.is_file() else b"",
    }
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
        _add_project(tar, project_dir.resolve())
    context.seek(0)


def _add_project(tar: tarfile.TarFile, root: Path) -> None:
    """The project's files under ``project/``, owned by root."""
    info = tarfile.TarInfo("project")
    info.type, info.mode = tarfile.DIRTYPE, 0o755
    tar.addfile(info)
    for entry in walk(root):
        if entry.relative.parts[0] == ORCHEST_FOLDER or entry.kind is Kind.OTHER:
            continue
        if entry.kind is Kind.LINK and not link_inside(root, entry.path):
            continue
        name = f"project/{entry.relative.as_posix()}"
        tar.add(entry.path, arcname=name, recursive=False, filter=_owned_by_root)


def _owned_by_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"
