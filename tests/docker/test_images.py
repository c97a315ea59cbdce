"""The images of ``images/`` against the real dockerd: what each one holds,
and the three together as an interactive session runs them (a Jupyter
server whose kernel Enterprise Gateway starts as a kernel-image container)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import httpx
import pytest
from jupyter_harness import execute_request, kernel_ready
from websockets.asyncio.client import connect

from support import REPO_ROOT, eventually, free_port

if TYPE_CHECKING:
    # Not imported when the tests run: with other test folders' conftest
    # modules in the same session, the name "conftest" may be one of theirs.
    from conftest import Docker, Images

# The first test also waits for images/build.sh: minutes on a first build
# (conftest.BUILD_TIMEOUT), seconds once cached.
pytestmark = pytest.mark.timeout(2100)


def pinned(image: str, package: str) -> str:
    """The version ``images/<image>/requirements.in`` pins ``package`` to."""
    for line in (REPO_ROOT / "images" / image / "requirements.in").read_text().splitlines():
        name, separator, version = line.partition("==")
        if separator and name.strip().lower().replace("_", "-") == package:
            return version.strip()
    raise AssertionError(f"images/{image}/requirements.in pins no {package}")


def test_kernel_image_has_ipykernel_the_orchest_sdk_and_pyarrow(
    docker: Docker, images: Images
) -> None:
    versions = docker.run(
        images.kernel_python,
        "python",
        "-c",
        "import ipykernel, orchest, pyarrow; "
        "print(ipykernel.__version__, orchest.__version__, pyarrow.__version__)",
    )

    assert versions.returncode == 0, versions.stderr
    assert versions.stdout.split() == [
        pinned("kernel-python", "ipykernel"),
        "0.3.11",
        pinned("kernel-python", "pyarrow"),
    ]


def test_kernel_image_has_enterprise_gateways_kernel_launcher(
    docker: Docker, images: Images
) -> None:
    launcher = docker.run(
        images.kernel_python,
        "bash",
        "-c",
        "test -x /usr/local/bin/bootstrap-kernel.sh && "
        "python /usr/local/bin/kernel-launchers/python/scripts/launch_ipykernel.py --help",
    )

    assert launcher.returncode == 0, launcher.stderr
    assert "--response-address" in launcher.stdout


def test_enterprise_gateway_image_is_version_3_3_0(docker: Docker, images: Images) -> None:
    version = docker.run(images.enterprise_gateway, "jupyter", "enterprisegateway", "--version")

    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == "3.3.0"


def test_jupyter_server_image_is_the_pinned_jupyter_server_2(
    docker: Docker, images: Images
) -> None:
    version = docker.run(images.jupyter_server, "jupyter", "server", "--version")

    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == pinned("jupyter-server", "jupyter-server")
    assert version.stdout.startswith("2.")


def docker_kernelspec(image: str) -> dict[str, Any]:
    """A kernelspec for a Python kernel in a container of ``image``, started by
    the enterprise-gateway image's Docker launcher on the host network."""
    return {
        "display_name": "Python (container)",
        "language": "python",
        "metadata": {
            "process_proxy": {
                "class_name": "orchest_eg.HostNetworkDockerProcessProxy",
                "config": {"image_name": image},
            }
        },
        "argv": [
            "python",
            "/usr/local/share/jupyter/kernel-launchers/docker/scripts/launch_docker.py",
            "--RemoteProcessProxy.kernel-id",
            "{kernel_id}",
            "--RemoteProcessProxy.port-range",
            "{port_range}",
            "--RemoteProcessProxy.response-address",
            "{response_address}",
            "--RemoteProcessProxy.public-key",
            "{public_key}",
        ],
    }


async def execute(url: str, token: str, code: str) -> str:
    """Run ``code`` on a kernel through the Jupyter server's websocket; its
    stdout once the kernel is idle again."""
    msg_id, request = execute_request(code)
    stdout: list[str] = []
    replied = idle = False
    async with connect(url, additional_headers={"Authorization": f"token {token}"}) as socket:
        async with asyncio.timeout(60):
            await kernel_ready(socket)
            await socket.send(json.dumps(request))
            while not (replied and idle):
                message = json.loads(await socket.recv())
                if message.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind, content = message["msg_type"], message["content"]
                if kind == "stream" and content["name"] == "stdout":
                    stdout.append(content["text"])
                elif kind == "execute_reply":
                    assert content["status"] == "ok", content
                    replied = True
                elif kind == "status" and content["execution_state"] == "idle":
                    idle = True
    return "".join(stdout)


async def test_a_session_kernel_runs_in_a_kernel_image_container_started_by_the_gateway(
    docker: Docker, images: Images, tmp_path: Path
) -> None:
    kernels = tmp_path / "kernels"
    (kernels / "python_container").mkdir(parents=True)
    (kernels / "python_container" / "kernel.json").write_text(
        json.dumps(docker_kernelspec(images.kernel_python))
    )
    project = tmp_path / "project"
    project.mkdir()
    (project / "hello.txt").write_text("hello\n")
    eg_port, server_port = free_port(), free_port()
    token = uuid4().hex
    # EG names a kernel's container, and its host name (at most 64
    # characters), <KERNEL_USERNAME>-<kernel id>.
    kernel_user = f"test-{uuid4().hex[:8]}"
    gateway, server = docker.new_name("eg"), docker.new_name("jupyter-server")

    def kernel_containers() -> list[str]:
        listed = docker("ps", "--all", "--quiet", "--filter", f"name={kernel_user}-")
        return listed.stdout.split()

    async def kernelspecs(http: httpx.AsyncClient) -> dict[str, Any] | None:
        try:
            response = await http.get("/api/kernelspecs")
        except httpx.TransportError:
            return None
        return response.json()["kernelspecs"] if response.status_code == 200 else None

    async def no_kernel_container() -> bool | None:
        return True if not await asyncio.to_thread(kernel_containers) else None

    try:
        docker.start(
            images.enterprise_gateway,
            name=gateway,
            options=[
                "--volume=/var/run/docker.sock:/var/run/docker.sock",
                f"--volume={kernels}:/usr/local/share/jupyter/kernels:ro",
                f"--env=EG_PORT={eg_port}",
                f"--env=EG_RESPONSE_PORT={free_port()}",
            ],
        )
        docker.start(
            images.jupyter_server,
            "jupyter",
            "server",
            f"--GatewayClient.url=http://127.0.0.1:{eg_port}",
            f"--port={server_port}",
            f"--IdentityProvider.token={token}",
            name=server,
            options=[f"--volume={project}:/project-dir", f"--env=KERNEL_USERNAME={kernel_user}"],
        )
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{server_port}",
            headers={"Authorization": f"token {token}"},
            timeout=120,
        ) as http:
            specs = await eventually(
                lambda: kernelspecs(http), timeout=60, what="the server listing EG's kernelspecs"
            )
            assert list(specs) == ["python_container"]
            contents = (await http.get("/api/contents")).json()
            assert [item["name"] for item in contents["content"]] == ["hello.txt"]

            started = await http.post("/api/kernels", json={"name": "python_container"})
            assert started.status_code == 201, started.text
            kernel_id = started.json()["id"]
            assert len(await asyncio.to_thread(kernel_containers)) == 1

            output = await execute(
                f"ws://127.0.0.1:{server_port}/api/kernels/{kernel_id}/channels",
                token,
                "import orchest, pyarrow\nprint(6 * 7, orchest.__version__)",
            )
            assert output == "42 0.3.11\n"

            assert (await http.delete(f"/api/kernels/{kernel_id}")).status_code == 204
        await eventually(no_kernel_container, timeout=30, what="the kernel's container removed")
    finally:
        # Shown when the test fails.
        print(f"--- {gateway}\n{docker.logs(gateway)[-6000:]}")
        print(f"--- {server}\n{docker.logs(server)[-3000:]}")
        docker.remove(gateway, server, *kernel_containers())
