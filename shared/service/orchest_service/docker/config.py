"""Container configurations (the ``POST /containers/create`` body), built the
same way for every container Orchest makes: host networking, no capability,
``no-new-privileges``, never privileged, CPU, memory and process limits,
docker-init as pid 1, a ``json-file`` log (read back through the API), and
the Docker socket only where asked for by name (``engine_socket``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SOCKET_MOUNT = "/var/run/docker.sock"
"""Where ``engine_socket`` is mounted in the container."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one container (``None``: none). Memory is a hard
    limit: no swap beyond it."""

    memory_bytes: int | None = None
    cpus: float | None = None
    pids: int | None = None

    @property
    def nano_cpus(self) -> int | None:
        return None if self.cpus is None else round(self.cpus * 1e9)

    def host_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {}
        if self.memory_bytes is not None:
            config["Memory"] = self.memory_bytes
            config["MemorySwap"] = self.memory_bytes
        if self.nano_cpus is not None:
            config["NanoCpus"] = self.nano_cpus
        if self.pids is not None:
            config["PidsLimit"] = self.pids
        return config


@dataclass(frozen=True)
class Mount:
    """A host path in the container. ``create``: made on the host when missing
    (a ``Binds`` entry); otherwise a missing source fails the create."""

    source: Path
    target: str | Path
    read_only: bool = False
    create: bool = False

    def spec(self) -> dict[str, Any]:
        return {
            "Type": "bind",
            "Source": str(self.source),
            "Target": str(self.target),
            "ReadOnly": self.read_only,
        }

    def bind(self) -> str:
        return f"{self.source}:{self.target}{':ro' if self.read_only else ''}"


def container_config(
    image: str,
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    user: str,
    labels: Mapping[str, str],
    limits: Limits,
    mounts: Sequence[Mount] = (),
    working_dir: str | Path | None = None,
    engine_socket: Path | None = None,
    group_add: Sequence[str] = (),
) -> dict[str, Any]:
    """The create body of a container. ``engine_socket``: the Docker socket to
    mount at ``SOCKET_MOUNT`` (with its group), for a container that starts
    containers itself; no other container gets it."""
    mounts = list(mounts)
    groups = list(group_add)
    if engine_socket is not None:
        mounts.append(Mount(engine_socket, SOCKET_MOUNT))
    host_config: dict[str, Any] = {
        "NetworkMode": "host",
        "Mounts": [m.spec() for m in mounts if not m.create],
        "Binds": [m.bind() for m in mounts if m.create],
        "Init": True,  # docker-init as pid 1: signals reach the command, zombies are reaped
        "CapDrop": ["ALL"],
        "SecurityOpt": ["no-new-privileges"],
        "Privileged": False,
        "LogConfig": {"Type": "json-file", "Config": {}},
        **limits.host_config(),
    }
    if groups:
        host_config["GroupAdd"] = groups
    config: dict[str, Any] = {
        "Image": image,
        "Cmd": list(command),
        "Env": env_list(env),
        "User": user,
        "Labels": dict(labels),
        "Tty": False,
        "OpenStdin": False,
        "HostConfig": host_config,
    }
    if working_dir is not None:
        config["WorkingDir"] = str(working_dir)
    return config


def env_list(env: Mapping[str, str]) -> list[str]:
    return [f"{name}={value}" for name, value in env.items()]


def label_filter(key: str, value: str | None = None) -> str:
    """A ``label`` filter of the engine's list: the key, or ``key=value``."""
    return key if value is None else f"{key}={value}"
