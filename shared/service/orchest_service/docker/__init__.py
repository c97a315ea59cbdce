"""The one Docker adapter of the services: a client with a timeout on every
request (``engine``), the runtime's own errors (``errors``), container
configurations (``config``) and a container followed while it runs
(``container``). aiodocker is the only Docker client."""

from .config import SOCKET_MOUNT, Limits, Mount, container_config, env_list, label_filter
from .container import Container
from .engine import DockerEngine, DockerTimeouts, engine_url, unix_socket
from .errors import DockerFailure, DockerNotFound, DockerTimeout, DockerUnavailable

__all__ = [
    "SOCKET_MOUNT",
    "Container",
    "DockerEngine",
    "DockerFailure",
    "DockerNotFound",
    "DockerTimeout",
    "DockerTimeouts",
    "DockerUnavailable",
    "Limits",
    "Mount",
    "container_config",
    "engine_url",
    "env_list",
    "label_filter",
    "unix_socket",
]
