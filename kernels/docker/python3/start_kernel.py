"""Runs Enterprise Gateway's Python kernel launcher (its path: the first
argument, the launcher's own arguments after it) with the kernel on loopback.

``launch_container.py`` runs this in the kernel's container as ``python -c``.
EG's launcher binds the kernel's ports on every interface (``0.0.0.0``,
fixed in its code) and reports that address; on the host network that would
offer the kernel's channels to the whole network. Here the connection file
it writes says ``127.0.0.1`` (the kernel binds and reports that), and its own
sockets (the port probes and the socket on which EG sends signals) bind
loopback instead of every interface, until the kernel starts: what the
user's code binds afterwards is left as it asks.
"""

import runpy
import socket
import sys
from typing import Any

import jupyter_client.connect
from ipykernel.kernelapp import IPKernelApp

LOOPBACK = "127.0.0.1"
_WILDCARDS = ("0.0.0.0", "")

_write_connection_file = jupyter_client.connect.write_connection_file
_bind = socket.socket.bind
_initialize = IPKernelApp.initialize


def write_connection_file(*args: Any, **kwargs: Any) -> Any:
    kwargs["ip"] = LOOPBACK
    return _write_connection_file(*args, **kwargs)


def bind_loopback(self: socket.socket, address: Any) -> None:
    if isinstance(address, tuple) and address[0] in _WILDCARDS:
        address = (LOOPBACK, *address[1:])
    _bind(self, address)


def initialize(self: IPKernelApp, *args: Any, **kwargs: Any) -> Any:
    socket.socket.bind = _bind  # type: ignore[method-assign]
    return _initialize(self, *args, **kwargs)


jupyter_client.connect.write_connection_file = write_connection_file
socket.socket.bind = bind_loopback  # type: ignore[method-assign]
IPKernelApp.initialize = initialize  # type: ignore[method-assign]

launcher = sys.argv[1]
sys.argv = [launcher, *sys.argv[2:]]
runpy.run_path(launcher, run_name="__main__")
