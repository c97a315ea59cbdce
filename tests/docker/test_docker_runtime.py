"""The docker runtime of sessions against the real dockerd and the images of
``images/``: Enterprise Gateway and a Jupyter server as containers, each
kernel a container of its own.

Each test's runtime has its own owner key, so it sees only its own
containers; whatever a test leaves (it failed) is removed after it by that
label. Nothing sleeps to wait: every wait is on what the containers answer.
"""

from __future__ import annotations

import ast
import asyncio
import json
import re
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import httpx
import psutil
import pytest
from jupyter_harness import execute, session_spec, start_kernel

from orchest_service.docker import Limits
from orchest_session_manager.runtime import docker as docker_runtime
from orchest_session_manager.runtime.base import LaunchFailed, SessionSpec
from orchest_session_manager.runtime.docker import DockerRuntime
from orchest_session_manager.runtime.docker_containers import (
    OWNER_LABEL,
    SESSION_LABEL,
    DockerImages,
)
from orchest_session_manager.runtime.kernelspecs import KERNELS_DIR, write_kernelspecs
from orchest_session_manager.service import default_runtimes
from orchest_session_manager.settings import SessionManagerSettings
from support import free_port

if TYPE_CHECKING:
    from conftest import Docker, Images

# The first test also waits for images/build.sh: minutes on a first build.
pytestmark = pytest.mark.timeout(2100)

PROJECT_UUID = "5d0c2a51-8f3e-4b7a-9c61-2e4f8a9b0c13"
PIPELINE_UUID = "a9e4b7c2-3d5f-4e81-b0a6-7c8d9e0f1a2b"
LOOPBACK = "127.0.0.1"


def containers(docker: Docker, label: str) -> list[dict[str, Any]]:
    """Every container (any state) with ``label`` (``key=value``), inspected."""
    ids = docker("ps", "--all", "--quiet", "--filter", f"label={label}").stdout.split()
    if not ids:
        return []
    inspected = docker("inspect", *ids)
    if inspected.returncode != 0:  # one went away meanwhile
        return containers(docker, label)
    found: list[dict[str, Any]] = json.loads(inspected.stdout)
    return found


def remove_labelled(docker: Docker, label: str) -> None:
    ids = docker("ps", "--all", "--quiet", "--filter", f"label={label}").stdout.split()
    if ids:
        docker("rm", "--force", "--volumes", *ids)


@pytest.fixture
def images_of_runtime(images: Images) -> DockerImages:
    """The images build.sh made, by their content tags."""
    return DockerImages(
        enterprise_gateway=images.enterprise_gateway,
        jupyter_server=images.jupyter_server,
        kernel=images.kernel_python,
    )


@pytest.fixture
async def runtime(
    tmp_path: Path, docker: Docker, images_of_runtime: DockerImages
) -> AsyncIterator[DockerRuntime]:
    owner = f"test-{uuid4().hex[:12]}"
    runtime = DockerRuntime(
        tmp_path / "sessions", owner=owner, images=images_of_runtime, launch_timeout=120
    )
    try:
        yield runtime
    finally:
        remove_labelled(docker, f"{OWNER_LABEL}={owner}")


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / "notebooks").mkdir(parents=True)
    (project / "notebooks" / "hello.txt").write_text("hello from the project\n")
    return project


def spec_for(project_dir: Path, **env: str) -> SessionSpec:
    return session_spec(project_dir, PROJECT_UUID, PIPELINE_UUID, **env)


def inet_addresses(docker: Docker, container: dict[str, Any]) -> set[str]:
    """The addresses of every TCP/UDP socket of every process of a running
    container: where it listens and what it is connected to."""
    top = docker("top", container["Id"], "-eo", "pid")
    pids = [int(line) for line in top.stdout.split()[1:]]
    addresses = set()
    for pid in pids:
        try:
            connections = psutil.Process(pid).net_connections(kind="inet")
        except psutil.NoSuchProcess:
            continue
        for connection in connections:
            addresses.add(connection.laddr.ip)
            if connection.raddr:
                addresses.add(connection.raddr.ip)
    return addresses


async def test_launch_execute_restart_and_stop(
    runtime: DockerRuntime, docker: Docker, project_dir: Path
) -> None:
    spec = spec_for(project_dir, MY_VARIABLE="set by the pipeline")
    session_label = f"{SESSION_LABEL}={runtime.session_label(spec.session_uuid)}"
    started = time.monotonic()
    endpoints = await runtime.launch(spec)
    print(f"launch to both ready: {time.monotonic() - started:.2f}s")

    assert endpoints.jupyter_url.startswith(f"http://{LOOPBACK}:")
    assert endpoints.gateway_url.startswith(f"http://{LOOPBACK}:")
    assert await runtime.alive(spec.session_uuid)
    started = time.monotonic()
    kernel_id = await start_kernel(
        endpoints.jupyter_url, endpoints.jupyter_token, notebook="notebooks/analysis.ipynb"
    )
    assert await execute(endpoints.jupyter_url, endpoints.jupyter_token, kernel_id, "1 + 1") == "2"
    print(f"kernel started and ran 1 + 1: {time.monotonic() - started:.2f}s")

    # The kernel runs in the notebook's folder of the mounted project, with the
    # session's variables, and listens (and says it listens) on loopback only.
    code = (
        "import json, os; from ipykernel.connect import get_connection_info;"
        " (os.getcwd(), open('hello.txt').read(), os.environ.get('MY_VARIABLE'),"
        " json.loads(get_connection_info())['ip'])"
    )
    result = await execute(endpoints.jupyter_url, endpoints.jupyter_token, kernel_id, code)
    assert ast.literal_eval(result) == (
        "/project-dir/notebooks",
        "hello from the project\n",
        "set by the pipeline",
        LOOPBACK,
    )

    # The kernel is a container of its own, labelled with the session; every
    # container is on the host network, unprivileged and limited.
    found = containers(docker, session_label)
    roles = sorted(c["Config"]["Labels"]["orchest.role"] for c in found)
    assert roles == ["enterprise-gateway", "jupyter-server", "kernel"]
    for container in found:
        labels, host = container["Config"]["Labels"], container["HostConfig"]
        assert labels[OWNER_LABEL] == runtime.owner
        assert labels["orchest.project"] == PROJECT_UUID
        assert labels["orchest.pipeline"] == PIPELINE_UUID
        assert host["NetworkMode"] == "host"
        assert not host["Privileged"]
        assert host["CapDrop"] == ["ALL"]
        assert host["SecurityOpt"] == ["no-new-privileges"]
        assert host["Memory"] > 0 and host["NanoCpus"] > 0 and host["PidsLimit"] > 0
        assert container["State"]["Running"]
        # Nothing listens or connects anywhere but on loopback.
        assert inet_addresses(docker, container) <= {LOOPBACK}, container["Name"]
    kernel = next(c for c in found if c["Config"]["Labels"]["orchest.role"] == "kernel")
    assert kernel["Config"]["Labels"]["kernel_id"] == kernel_id
    assert [(m["Source"], m["Destination"]) for m in kernel["Mounts"]] == [
        (str(project_dir), "/project-dir")
    ]
    first = {c["Id"] for c in found}

    # Restart: stop and launch again.
    await runtime.stop(spec.session_uuid)
    endpoints = await runtime.launch(spec)
    kernel_id = await start_kernel(endpoints.jupyter_url, endpoints.jupyter_token)
    assert await execute(endpoints.jupyter_url, endpoints.jupyter_token, kernel_id, "1 + 1") == "2"
    again = {c["Id"] for c in containers(docker, session_label)}
    assert len(again) == 3 and not again & first

    session_dir = endpoints.details["session_dir"]
    assert await asyncio.to_thread(Path(session_dir).is_dir)
    await runtime.stop(spec.session_uuid)
    assert containers(docker, session_label) == []
    assert await runtime.owned() == []
    assert not await runtime.alive(spec.session_uuid)
    assert not await asyncio.to_thread(Path(session_dir).exists)
    await runtime.stop(spec.session_uuid)  # idempotent


async def test_a_new_runtime_finds_the_session_and_stops_it(
    runtime: DockerRuntime, docker: Docker, project_dir: Path, images_of_runtime: DockerImages
) -> None:
    """As after a restart of the session manager: another instance with the
    same owner finds the session's containers (its kernel's too) and stops
    them; one with another owner sees none of them."""
    spec = spec_for(project_dir)
    endpoints = await runtime.launch(spec)
    kernel_id = await start_kernel(endpoints.jupyter_url, endpoints.jupyter_token)
    assert await execute(endpoints.jupyter_url, endpoints.jupyter_token, kernel_id, "6 * 7") == "42"

    restarted = DockerRuntime(runtime.sessions_dir, owner=runtime.owner, images=images_of_runtime)
    owned = await restarted.owned()
    assert sorted(o.role for o in owned) == ["enterprise-gateway", "jupyter-server", "kernel"]
    assert {o.session_uuid for o in owned} == {spec.session_uuid}
    assert await restarted.alive(spec.session_uuid)
    other = DockerRuntime(runtime.sessions_dir, owner=f"{runtime.owner}-other")
    assert await other.owned() == []
    assert not await other.alive(spec.session_uuid)

    await restarted.stop(spec.session_uuid)
    assert containers(docker, f"{OWNER_LABEL}={runtime.owner}") == []
    assert await restarted.owned() == []


async def test_a_dead_server_makes_the_session_not_alive(
    runtime: DockerRuntime, docker: Docker, project_dir: Path
) -> None:
    spec = spec_for(project_dir)
    endpoints = await runtime.launch(spec)
    gateway = endpoints.details["containers"]["enterprise-gateway"]["id"]
    assert docker("kill", gateway).returncode == 0
    assert not await runtime.alive(spec.session_uuid)
    await runtime.stop(spec.session_uuid)  # what is left, the exited one too
    assert containers(docker, f"{OWNER_LABEL}={runtime.owner}") == []


async def test_a_missing_image_fails_the_launch_and_leaves_nothing(
    tmp_path: Path, docker: Docker, project_dir: Path, images_of_runtime: DockerImages
) -> None:
    owner = f"test-{uuid4().hex[:12]}"
    missing = f"orchest/no-such-image:{uuid4().hex[:12]}"
    runtime = DockerRuntime(
        tmp_path / "sessions",
        owner=owner,
        images=DockerImages(
            enterprise_gateway=missing,
            jupyter_server=images_of_runtime.jupyter_server,
            kernel=images_of_runtime.kernel,
        ),
    )
    spec = spec_for(project_dir)
    try:
        with pytest.raises(LaunchFailed) as failed:
            await runtime.launch(spec)
        assert missing in failed.value.reason
        assert containers(docker, f"{OWNER_LABEL}={owner}") == []
        assert not await asyncio.to_thread(runtime.session_dir(spec.session_uuid).exists)
    finally:
        remove_labelled(docker, f"{OWNER_LABEL}={owner}")


async def test_a_server_that_exits_fails_the_launch_with_its_log(
    runtime: DockerRuntime, docker: Docker, project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Jupyter server exits at once when its port is taken (it retries no
    other): the launch fails with the end of its log, and leaves nothing."""
    with socket.socket() as taken:
        taken.bind((LOOPBACK, 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setattr(
            docker_runtime, "free_ports", lambda count: [free_port(), free_port(), port]
        )
        spec = spec_for(project_dir)
        with pytest.raises(LaunchFailed) as failed:
            await runtime.launch(spec)
    assert "jupyter-server exited" in failed.value.reason
    assert "already in use" in failed.value.reason
    assert containers(docker, f"{OWNER_LABEL}={runtime.owner}") == []
    assert not await asyncio.to_thread(runtime.session_dir(spec.session_uuid).exists)


async def test_kernel_limits_reach_the_kernel_container(
    tmp_path: Path, docker: Docker, project_dir: Path, images_of_runtime: DockerImages
) -> None:
    owner = f"test-{uuid4().hex[:12]}"
    runtime = DockerRuntime(
        tmp_path / "sessions",
        owner=owner,
        images=images_of_runtime,
        user="1000:100",
        kernel_limits=Limits(memory_bytes=512 * 1024**2, cpus=0.5, pids=256),
    )
    spec = spec_for(project_dir)
    try:
        endpoints = await runtime.launch(spec)
        kernel_id = await start_kernel(endpoints.jupyter_url, endpoints.jupyter_token)
        code = "import os; (os.getuid(), os.getgid())"
        result = await execute(endpoints.jupyter_url, endpoints.jupyter_token, kernel_id, code)
        assert ast.literal_eval(result) == (1000, 100)
        kernel = containers(docker, f"kernel_id={kernel_id}")[0]
        host = kernel["HostConfig"]
        assert (host["Memory"], host["NanoCpus"], host["PidsLimit"]) == (512 * 1024**2, 5e8, 256)
        assert kernel["Config"]["User"] == "1000:100"
        await runtime.stop(spec.session_uuid)
        assert containers(docker, f"{OWNER_LABEL}={owner}") == []
    finally:
        remove_labelled(docker, f"{OWNER_LABEL}={owner}")


async def test_each_environment_is_a_kernel_in_its_own_image(
    tmp_path: Path, docker: Docker, project_dir: Path, images_of_runtime: DockerImages
) -> None:
    owner = f"test-{uuid4().hex[:12]}"
    environment = uuid4().hex[:8]
    image = f"orchest-test/environment-{environment}:latest"
    tagged = docker("tag", images_of_runtime.kernel, image)
    assert tagged.returncode == 0, tagged.stderr
    images = replace(images_of_runtime, environments={environment: image})
    runtime = DockerRuntime(tmp_path / "sessions", owner=owner, images=images)
    spec = spec_for(project_dir)
    try:
        endpoints = await runtime.launch(spec)
        kernel_id = await start_kernel(
            endpoints.jupyter_url, endpoints.jupyter_token, name=f"orchest-kernel-{environment}"
        )
        result = await execute(endpoints.jupyter_url, endpoints.jupyter_token, kernel_id, "6 * 7")
        assert result == "42"
        kernel = containers(docker, f"kernel_id={kernel_id}")[0]
        assert kernel["Config"]["Image"] == image
        await runtime.stop(spec.session_uuid)
    finally:
        remove_labelled(docker, f"{OWNER_LABEL}={owner}")
        docker("rmi", image)


def test_docker_kernelspecs_filled_from_templates(tmp_path: Path) -> None:
    container = json.dumps({"image": "orchest/kernel-python:x", "labels": {"a": "b"}})
    names = write_kernelspecs(
        KERNELS_DIR / "docker",
        tmp_path,
        {"IMAGE": "orchest/kernel-python:x", "CONTAINER": container},
    )
    assert names == ["python3"]
    spec = json.loads((tmp_path / "python3" / "kernel.json").read_text())
    proxy = spec["metadata"]["process_proxy"]
    assert proxy["class_name"] == "orchest_eg.HostNetworkDockerProcessProxy"
    assert proxy["config"]["image_name"] == "orchest/kernel-python:x"
    assert json.loads(spec["env"]["ORCHEST_KERNEL_CONTAINER"]) == json.loads(container)
    assert "{response_address}" in spec["argv"]
    # The launcher and the kernel's start script come along.
    assert (tmp_path / "python3" / "launch_container.py").is_file()
    assert (tmp_path / "python3" / "start_kernel.py").is_file()


async def test_the_docker_runtime_is_offered_when_an_engine_answers(
    tmp_path: Path, docker: Docker
) -> None:
    answering = await default_runtimes(SessionManagerSettings(sessions_dir=tmp_path))
    assert sorted(answering) == ["docker", "process"]
    silent = await default_runtimes(
        SessionManagerSettings(
            sessions_dir=tmp_path, docker_url=f"unix://{tmp_path / 'no-engine.sock'}"
        )
    )
    assert sorted(silent) == ["process"]


async def test_the_jupyter_url_opens_jupyterlab_in_the_pipeline_folder_offline(
    runtime: DockerRuntime, project_dir: Path
) -> None:
    """The jupyter-server image serves JupyterLab: the session's URL with its
    token leads to Lab in the pipeline's folder, with its kernels from EG
    and nothing fetched from outside (no extension search, news or update check)."""
    spec = replace(spec_for(project_dir), pipeline_path="notebooks/main.orchest")
    endpoints = await runtime.launch(spec)
    url, token = endpoints.jupyter_url, endpoints.jupyter_token
    async with httpx.AsyncClient(timeout=30) as http:
        opened = await http.get(f"{url}?token={token}")
        assert opened.status_code == 302
        assert opened.headers["location"] == f"/lab/tree/notebooks?token={token}"
        lab = await http.get(f"{url}lab/tree/notebooks?token={token}")
        assert lab.status_code == 200, lab.text
        match = re.search(r'id="jupyter-config-data"[^>]*>(.*?)</script>', lab.text, re.S)
        assert match is not None, lab.text
        config = json.loads(match.group(1))
        assert config["treePath"] == "notebooks"
        assert config["extensionManager"]["can_install"] is False
        assert config["news"] == {"disabled": True}
        assert "@jupyterlab/apputils-extension:announcements" in config["disabledExtensions"]
        headers = {"Authorization": f"token {token}"}
        found = await http.get(
            f"{url}lab/api/extensions",
            params={"query": "jupyter", "page": 1, "per_page": 50},
            headers=headers,
        )
        assert found.status_code == 200, found.text
        assert all(e["installed"] for e in found.json())
        specs = await http.get(f"{url}api/kernelspecs", headers=headers)
        assert set(specs.json()["kernelspecs"]) == set(endpoints.details["kernels"])
    kernel_id = await start_kernel(url, token, notebook="notebooks/analysis.ipynb")
    assert await execute(url, token, kernel_id, "6 * 7") == "42"
    await runtime.stop(spec.session_uuid)
