"""Fixtures for the images of ``images/``: the docker CLI against the
machine's real dockerd, and the images, built once per session (or found
cached) by ``images/build.sh``. Every container the tests start uses host
networking, is labelled ``orchest.test=1`` and is removed after."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from uuid import uuid4

import pytest

from orchest_session_manager.runtime.docker_containers import PIPELINE_LABEL
from support import REPO_ROOT, built_images

BUILD_SCRIPT = REPO_ROOT / "images" / "build.sh"
BUILD_TIMEOUT = 1800.0
"""A first build bootstraps a Debian base and installs from PyPI: minutes."""
TEST_LABEL = "orchest.test=1"


@dataclass(frozen=True)
class Docker:
    """The docker CLI."""

    executable: str

    def __call__(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.executable, *args], capture_output=True, text=True, timeout=timeout
        )

    def run(
        self, image: str, *command: str, timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` in a new container of ``image`` and remove it."""
        name = self.new_name("run")
        try:
            return self(
                "run",
                "--rm",
                "--name",
                name,
                *container_options(),
                image,
                *command,
                timeout=timeout,
            )
        finally:
            self.remove(name)

    def start(self, image: str, *command: str, name: str, options: Sequence[str] = ()) -> None:
        """Start a detached container; the caller removes it (``remove``)."""
        started = self(
            "run", "--detach", "--name", name, *container_options(), *options, image, *command
        )
        if started.returncode != 0:
            self.remove(name)
            pytest.fail(f"docker run {image} failed: {started.stderr.strip()}", pytrace=False)

    @staticmethod
    def new_name(role: str) -> str:
        """A container name no other test uses."""
        return f"orchest-test-{role}-{uuid4().hex[:12]}"

    def remove(self, *names: str) -> None:
        if names:
            self("rm", "--force", "--volumes", *names)

    def logs(self, name: str) -> str:
        logs = self("logs", name)
        return logs.stdout + logs.stderr


def container_options() -> list[str]:
    return ["--network", "host", "--label", TEST_LABEL]


@dataclass(frozen=True)
class Images:
    """The images ``images/build.sh`` printed, by name."""

    enterprise_gateway: str
    jupyter_server: str
    kernel_python: str


@pytest.fixture(scope="session")
def docker() -> Docker:
    executable = shutil.which("docker")
    if executable is None:
        pytest.fail(
            "the docker CLI is not installed: the image tests need it and a running dockerd "
            "(here: dockerd --bridge=none --iptables=false)",
            pytrace=False,
        )
    client = Docker(executable)
    info = client("info", "--format", "{{.ServerVersion}}")
    if info.returncode != 0:
        pytest.fail(
            "no Docker daemon answers: the image tests need a running dockerd "
            f"(here: dockerd --bridge=none --iptables=false): {info.stderr.strip()}",
            pytrace=False,
        )
    return client


@pytest.fixture(scope="session")
def images(docker: Docker) -> Images:
    """The images, built by ``images/build.sh`` (seconds when cached)."""
    built = built_images(BUILD_SCRIPT, BUILD_TIMEOUT)
    try:
        return Images(
            enterprise_gateway=built["orchest/enterprise-gateway"],
            jupyter_server=built["orchest/jupyter-server"],
            kernel_python=built["orchest/kernel-python"],
        )
    except KeyError as missing:
        pytest.fail(f"images/build.sh did not print {missing}: {sorted(built)}", pytrace=False)


@pytest.fixture
def pipeline(docker: Docker) -> Iterator[str]:
    """A pipeline uuid of the test's own; its containers are removed after it."""
    uuid = str(uuid4())
    yield uuid
    ids = docker("ps", "--all", "--quiet", "--filter", f"label={PIPELINE_LABEL}={uuid}")
    if ids.stdout.split():
        docker("rm", "--force", "--volumes", *ids.stdout.split())
