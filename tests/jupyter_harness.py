"""Talking to a session's Jupyter server as JupyterLab does: start a kernel
over REST (it goes through Enterprise Gateway), run code over its websocket;
the spec of a session a runtime launches; and finding a session's processes
on the host."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import psutil
import websockets

from orchest_schemas.session_marks import MARKER_VARIABLE
from orchest_session_manager.runtime.base import SessionSpec

EXECUTE_TIMEOUT = 60.0
"""A kernel starts in about a second; generous for a loaded machine."""


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"token {token}"}


async def start_kernel(
    jupyter_url: str, token: str, notebook: str | None = None, name: str = "python3"
) -> str:
    """A kernel (kernelspec ``name``) through the Jupyter server (which asks
    Enterprise Gateway); for a notebook path, through a Jupyter session as
    JupyterLab does."""
    async with httpx.AsyncClient(trust_env=False, timeout=EXECUTE_TIMEOUT) as client:
        if notebook is None:
            response = await client.post(
                f"{jupyter_url}api/kernels", json={"name": name}, headers=auth(token)
            )
            response.raise_for_status()
            return str(response.json()["id"])
        response = await client.post(
            f"{jupyter_url}api/sessions",
            json={"path": notebook, "type": "notebook", "kernel": {"name": name}},
            headers=auth(token),
        )
        response.raise_for_status()
        return str(response.json()["kernel"]["id"])


def session_spec(
    project_dir: Path, project_uuid: str, pipeline_uuid: str, **env: str
) -> SessionSpec:
    """A session of the pipeline ``main.orchest`` of ``project_dir``, with the
    pipeline's uuid and ``env`` as its environment variables."""
    return SessionSpec(
        session_uuid=str(uuid4()),
        project_uuid=project_uuid,
        pipeline_uuid=pipeline_uuid,
        project_dir=str(project_dir),
        pipeline_path="main.orchest",
        env={"ORCHEST_PIPELINE_UUID": pipeline_uuid, **env},
    )


def shell_request(msg_type: str, content: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A kernel message on the shell channel, and its id."""
    msg_id = uuid4().hex
    return msg_id, {
        "header": {
            "msg_id": msg_id,
            "msg_type": msg_type,
            "username": "test",
            "session": uuid4().hex,
            "version": "5.3",
            "date": "",
        },
        "parent_header": {},
        "metadata": {},
        "content": content,
        "channel": "shell",
        "buffers": [],
    }


def execute_request(code: str) -> tuple[str, dict[str, Any]]:
    """A kernel message asking to run ``code`` on the shell channel, and its id."""
    return shell_request("execute_request", {"code": code, "silent": False, "store_history": False})


NUDGE_SECONDS = 2.0
"""How long a kernel_info request waits for its reply before another is sent."""


async def kernel_ready(ws: Any) -> None:
    """As JupyterLab does once a kernel's websocket opens: nothing else is sent
    until a kernel_info request is answered. The request goes again while no
    answer comes (as jupyter_server's own nudge does), in case one is lost on
    its way through the Jupyter server, Enterprise Gateway and the kernel's
    sockets while they connect."""
    while True:
        _, request = shell_request("kernel_info_request", {})
        await ws.send(json.dumps(request))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(NUDGE_SECONDS):
                while json.loads(await ws.recv())["msg_type"] != "kernel_info_reply":
                    pass
                return


async def execute(jupyter_url: str, token: str, kernel_id: str, code: str) -> str:
    """Run ``code`` over the kernel's websocket; return its result's text/plain."""
    url = jupyter_url.replace("http://", "ws://", 1)
    url += f"api/kernels/{kernel_id}/channels?token={token}"
    msg_id, request = execute_request(code)
    async with asyncio.timeout(EXECUTE_TIMEOUT), websockets.connect(url) as ws:
        await kernel_ready(ws)
        await ws.send(json.dumps(request))
        while True:
            message: dict[str, Any] = json.loads(await ws.recv())
            if message["parent_header"].get("msg_id") != msg_id:
                continue
            if message["msg_type"] == "execute_result":
                return str(message["content"]["data"]["text/plain"])
            if message["msg_type"] == "error":
                raise AssertionError(f"kernel error: {message['content']['evalue']}")


def is_gone(process: psutil.Process) -> bool:
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def marked_anywhere(session_uuid: str) -> list[int]:
    """Pids of any process on the host marked for this session, whatever its owner."""
    found = []
    for process in psutil.process_iter():
        try:
            marker = process.environ().get(MARKER_VARIABLE, "")
            if marker.endswith(f":{session_uuid}") and not is_gone(process):
                found.append(process.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found
