"""Enterprise Gateway process proxies for kernel containers on the host network.

Installed in the enterprise-gateway image (on its PYTHONPATH); a kernelspec
names it as its process proxy class:
``"class_name": "orchest_eg.HostNetworkDockerProcessProxy"``.
"""

from __future__ import annotations

from enterprise_gateway.services.processproxies.docker_swarm import DockerProcessProxy

LOOPBACK = "127.0.0.1"


class HostNetworkDockerProcessProxy(DockerProcessProxy):
    """EG's DockerProcessProxy for containers started with ``--network host``
    (``EG_DOCKER_NETWORK=host``).

    EG connects to a kernel at its container's address, which Docker leaves
    empty on the host network, so the kernel would never be reached. Its
    ports are the host's: EG, on the host network too, reaches them on
    loopback.
    """

    def get_container_status(self, iteration: int | None) -> str:
        status: str = super().get_container_status(iteration)
        if self.assigned_host and not self.assigned_ip:
            self.assigned_ip = LOOPBACK
        return status
