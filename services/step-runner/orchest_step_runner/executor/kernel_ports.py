"""The ports of a kernel in a step container, held from their choice until the
kernel has ended.

The runner chooses a container kernel's five ports (its connection file) and
the kernel binds them seconds later, once its container runs. A port chosen
as jupyter_client chooses it (bind to port 0, then close) is free for anyone
in between: another kernel of the runner is given it again (of a hundred
kernels given ports in a row, some always share one), or another program of
the host binds it. The kernel that comes second prints "Address already in
use" and exits, except when the port is its IOPub one: then it never exits
(its exit waits for the IOPub socket it never closes) and never answers
(``cells.py`` ends such a kernel after the start deadline).

Here each port is held by a socket bound with ``SO_REUSEADDR`` that never
listens. The kernel's listeners (ZeroMQ sets ``SO_REUSEADDR``) bind and
listen beside it; meanwhile every port 0 bind of the host (jupyter_client's
choice in any process, a server's free port) and every outgoing connection's
source port passes the port by. The ports are also entered in jupyter_client's
process-wide ``LocalPortCache``, whose ports the local kernels of the process
take (and skip): no port is given to two kernels of the process while held.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from jupyter_client.connect import LocalPortCache

PORT_NAMES = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")
"""A kernel's ports, as its connection file and its manager name them."""


@dataclass
class KernelPorts:
    """One kernel's ports (``ports``, by ``PORT_NAMES``), held until ``release``."""

    ports: dict[str, int]
    _sockets: list[socket.socket]

    @classmethod
    def reserve(cls, ip: str) -> KernelPorts:
        """Five free ports of ``ip``, none that the process gives out already."""
        used = LocalPortCache.instance().currently_used_ports
        held: list[socket.socket] = []
        skipped: list[socket.socket] = []  # kept bound until the end: not chosen again
        try:
            while len(held) < len(PORT_NAMES):
                sock = socket.socket()
                skipped.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((ip, 0))
                port = sock.getsockname()[1]
                if port not in used:
                    used.add(port)
                    held.append(skipped.pop())
        except BaseException:
            cls({}, held).release()
            raise
        finally:
            for sock in skipped:
                sock.close()
        return cls(
            {name: sock.getsockname()[1] for name, sock in zip(PORT_NAMES, held, strict=True)}, held
        )

    def release(self) -> None:
        """Free the ports (the kernel has ended, or never started)."""
        cache = LocalPortCache.instance()
        for sock in self._sockets:
            cache.return_port(sock.getsockname()[1])
            sock.close()
        self._sockets = []
