"""The ports of container kernels (``executor/kernel_ports.py``): real sockets
on the loopback, and jupyter_client's own ways of choosing ports beside them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import zmq
from jupyter_client.connect import LocalPortCache, write_connection_file

from orchest_step_runner.executor.kernel_ports import PORT_NAMES, KernelPorts

KERNELS = 100
"""Kernels held at once: 500 ports. Chosen as jupyter_client chooses them
(bind to port 0, close), 100 kernels share some 9 ports (20 tries out of 20)."""


@contextlib.contextmanager
def reserved(count: int) -> Iterator[list[KernelPorts]]:
    held = [KernelPorts.reserve("127.0.0.1") for _ in range(count)]
    try:
        yield held
    finally:
        for ports in held:
            ports.release()


def all_ports(held: list[KernelPorts]) -> list[int]:
    return [port for ports in held for port in ports.ports.values()]


def test_kernels_of_one_process_never_share_a_port() -> None:
    with reserved(KERNELS) as held:
        ports = all_ports(held)
        assert all(set(kernel.ports) == set(PORT_NAMES) for kernel in held)
        assert len(set(ports)) == len(ports) == KERNELS * len(PORT_NAMES)


def test_a_held_port_is_chosen_by_no_one_else_and_returned_at_release(tmp_path: Path) -> None:
    cache = LocalPortCache.instance()
    with reserved(KERNELS) as held:
        ports = set(all_ports(held))
        assert ports <= cache.currently_used_ports  # local kernels of the process pass them by
        # Port 0 binds of any process (jupyter_client's choice for a kernel of
        # another process, a server's free port) pass them by too.
        chosen = set()
        for index in range(KERNELS):
            _, info = write_connection_file(str(tmp_path / f"{index}.json"), ip="127.0.0.1")
            chosen |= {int(info[name]) for name in PORT_NAMES}  # type: ignore[literal-required]
        local = {cache.find_available_port("127.0.0.1") for _ in range(KERNELS)}
        for port in local:
            cache.return_port(port)
        assert not (chosen | local) & ports
    assert not ports & cache.currently_used_ports


def test_the_kernel_binds_and_listens_on_its_ports_while_they_are_held() -> None:
    """ZeroMQ's listeners (as ipykernel's) bind beside the holding sockets,
    and take connections."""
    context = zmq.Context()
    sockets = []
    try:
        with reserved(1) as [ports]:
            for port in ports.ports.values():
                server = context.socket(zmq.ROUTER)
                server.bind(f"tcp://127.0.0.1:{port}")
                sockets.append(server)
            client = context.socket(zmq.DEALER)
            sockets.append(client)
            client.connect(f"tcp://127.0.0.1:{ports.ports['shell_port']}")
            client.send(b"ping")
            assert sockets[0].poll(10_000)  # the shell port's listener
            assert sockets[0].recv_multipart()[-1] == b"ping"
    finally:
        for sock in sockets:
            sock.close(linger=0)
        context.term()
