"""Starts one kernel of a session as a container of its own.

Enterprise Gateway (EG) runs this, the kernelspec's argv, inside the session's
enterprise-gateway container when a kernel is asked for; EG's process proxy
(``orchest_eg.HostNetworkDockerProcessProxy``, a ``DockerProcessProxy``) then
finds the container by its ``kernel_id`` label and waits for the kernel to
report its ports to EG's response address. EG's own ``launch_docker.py``
mounts nothing and labels a kernel by its id only; this one gives a kernel
what the session's other containers have: the host network, the project at
``/project-dir``, the session's labels, its user, no capabilities and
resource limits.

Its settings come from the session's docker runtime, as JSON in
``ORCHEST_KERNEL_CONTAINER`` (the kernelspec's ``env``, which a client's
kernel request cannot override): ``image``, ``user``, ``project_dir`` (the
project's path on the Docker host), ``labels``, ``env`` (the session's
variables for kernels), ``memory_bytes``, ``nano_cpus``, ``pids_limit``.

In the container, EG's Python kernel launcher starts the kernel through
``start_kernel.py`` (given as ``python -c``: nothing of it needs to be in
the image), which keeps the kernel's ports on loopback.
"""

from __future__ import annotations

import argparse
import json
import os
import posixpath
from pathlib import Path
from typing import Any

import docker
from docker.types import Mount

PROJECT_DIR = "/project-dir"
START_KERNEL = Path(__file__).with_name("start_kernel.py")
IPYKERNEL_LAUNCHER = "/usr/local/bin/kernel-launchers/python/scripts/launch_ipykernel.py"
"""Where EG's kernel images (and ``orchest/kernel-python``) have EG's Python launcher."""

# Decided here, not by a client's kernel request.
_NOT_PASSED = frozenset({"KERNEL_UID", "KERNEL_GID", "KERNEL_IMAGE", "KERNEL_EXECUTOR_IMAGE"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for name in ("kernel-id", "port-range", "response-address", "public-key"):
        parser.add_argument(f"--{name}", required=True)
    args = parser.parse_args()
    settings: dict[str, Any] = json.loads(os.environ["ORCHEST_KERNEL_CONTAINER"])

    env = {
        key: value
        for key, value in os.environ.items()
        if key.startswith("KERNEL_") and key not in _NOT_PASSED
    }
    env.update(settings["env"])
    env.update(
        KERNEL_ID=args.kernel_id,
        KERNEL_LANGUAGE="python",
        PORT_RANGE=args.port_range,
        RESPONSE_ADDRESS=args.response_address,
        PUBLIC_KEY=args.public_key,
        ORCHEST_PROJECT_DIR=PROJECT_DIR,
    )
    labels = {
        **settings["labels"],
        "kernel_id": args.kernel_id,  # how EG's process proxy finds it
        "component": "kernel",
        "app": "enterprise-gateway",
    }
    command = [
        "python",
        "-c",
        START_KERNEL.read_text(),
        IPYKERNEL_LAUNCHER,
        "--kernel-id",
        args.kernel_id,
        "--port-range",
        args.port_range,
        "--response-address",
        args.response_address,
        "--public-key",
        args.public_key,
    ]
    docker.from_env().containers.run(
        settings["image"],
        command,
        name=f"orchest-kernel-{args.kernel_id}",
        detach=True,
        auto_remove=True,
        init=True,  # signals reach the kernel; its children are reaped
        network_mode="host",
        user=settings["user"],
        working_dir=working_dir(os.environ.get("KERNEL_WORKING_DIR")),
        environment=env,
        labels=labels,
        mounts=[Mount(PROJECT_DIR, settings["project_dir"], type="bind")],
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        mem_limit=settings["memory_bytes"],
        nano_cpus=settings["nano_cpus"],
        pids_limit=settings["pids_limit"],
    )


def working_dir(requested: str | None) -> str:
    """The notebook's folder (the Jupyter server sends it), when it is in the
    project; else the project."""
    if requested:
        path = posixpath.normpath(requested)
        if path == PROJECT_DIR or path.startswith(PROJECT_DIR + "/"):
            return path
    return PROJECT_DIR


if __name__ == "__main__":
    main()
