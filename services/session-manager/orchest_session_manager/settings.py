"""Settings of the session manager (``ORCHEST_*``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import ByteSize, Field, PositiveFloat, PositiveInt

from orchest_service.settings import ServiceSettings


def _default_sessions_dir() -> Path:
    return Path.home() / ".local" / "share" / "orchest" / "sessions"


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "orchest" / "data"


def _default_environments_dir() -> Path:
    return Path.home() / ".local" / "share" / "orchest" / "environments"


class SessionManagerSettings(ServiceSettings):
    sessions_dir: Path = Field(default_factory=_default_sessions_dir)
    """Per-session files of the process runtime: logs, kernelspecs, connection files."""
    venvs_dir: Path | None = None
    """The isolated environments of Enterprise Gateway and the Jupyter server
    (``None``: the runtime's default)."""
    session_runtime: str = "process"
    """The runtime of a session whose launch names none: ``process`` or ``docker``."""
    session_launch_timeout_seconds: PositiveFloat = 180.0
    """A launch not ready by then fails (the first one builds the environments)."""
    session_health_seconds: PositiveFloat = 5.0
    """How often running sessions are checked; a dead one becomes ``FAILED``."""
    session_stop_on_exit: bool = False
    """Stop this host's sessions when the service is told to stop (``orchest
    down`` sets it). Otherwise sessions outlive a restart of the service."""

    environments_dir: Path = Field(default_factory=_default_environments_dir)
    """Process builds of environments: ``<project>/<environment>/<build>/venv``."""
    environment_builder: Literal["process", "docker"] = "process"
    """How environments are built: a virtual environment, or a Docker image."""
    build_ca_bundle: Path | None = Path("/etc/ssl/certs/ca-certificates.crt")
    """The CA bundle a docker build's setup script trusts (as ``images/build.sh``:
    ``pip`` through a TLS-inspecting proxy); ``None`` or missing: the image's own."""

    # -- the docker runtime (offered when a Docker engine answers) ------------------
    docker_url: str | None = None
    """The Docker engine (``unix:///var/run/docker.sock``, ``tcp://127.0.0.1:2375``);
    ``None``: ``DOCKER_HOST``, else the local socket."""
    docker_connect_timeout_seconds: PositiveFloat = 5.0
    """How long the engine may take to accept a connection."""
    docker_api_timeout_seconds: PositiveFloat = 30.0
    """How long the engine may take to answer one request (create, start,
    inspect, list, remove; a stop gets its grace on top). A launch whose
    request is not answered in time fails with that cause."""
    docker_gateway_image: str = "orchest/enterprise-gateway:latest"
    docker_jupyter_image: str = "orchest/jupyter-server:latest"
    docker_kernel_image: str = "orchest/kernel-python:latest"
    environment_images: dict[str, str] = Field(default_factory=dict)
    """``ORCHEST_ENVIRONMENT_IMAGES`` (JSON, environment uuid -> image, shared
    with the step runner): each environment is a kernel ``orchest-kernel-<uuid>``
    of docker sessions, in its image."""
    docker_user: str | None = None
    """``uid:gid`` of the Jupyter server and the kernels; ``None``: the owner of
    the project directory (they write its files)."""
    docker_server_memory: ByteSize = ByteSize(1024**3)
    """Memory limit of each of a session's Enterprise Gateway and Jupyter server."""
    docker_server_cpus: PositiveFloat = 1.0
    docker_kernel_memory: ByteSize = ByteSize(4 * 1024**3)
    """Memory limit of each kernel container."""
    docker_kernel_cpus: PositiveFloat = 2.0
    docker_pids_limit: PositiveInt = 1024
    """Processes (and threads) per container."""
    data_dir: Path = Field(default_factory=_default_data_dir)
    """The stack's data directory (the step runners' too): ``/data`` of a
    docker session's services that bind it; ``orchest up`` sets ``<state>/data``."""
    docker_data_dir: Path | None = None
    """The data directory's path on the Docker host; ``None``: ``data_dir``."""
