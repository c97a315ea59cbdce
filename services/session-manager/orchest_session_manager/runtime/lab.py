"""JupyterLab as a session's Jupyter server serves it: where it opens and what
keeps it offline. Pure: both runtimes turn these into their server's
configuration (a JSON file for the process runtime, command-line options for
the docker runtime).

Lab is the ``jupyterlab`` server extension of the session's Jupyter server
(in its environment and image), enabled by its own package; the server is
still started as ``jupyter server``, so its ``/`` goes to ``default_url``:
Lab, in the pipeline's folder. Its kernels are the server's, i.e. those of
Enterprise Gateway (``GatewayClient``): the session's kernelspecs.

Its kernel websockets go through ``orchest_jupyter.GatewayConnection``
(``images/jupyter-server/orchest_jupyter.py``, in the image and on the
process runtime's Jupyter server's ``sys.path``): Lab reconnects a
notebook's kernel at once when it opens it, which the server's own connection
to Enterprise Gateway does not survive (see that module).

Offline: a session reaches nothing beyond the loopback. Lab would otherwise
ask PyPI for its latest version and for extensions (its extension manager),
and fetch the Jupyter news feed (after asking every new user whether to):
the server is told not to (``LAB_SETTINGS``), and the page does not ask
(``PAGE_CONFIG``, Lab's ``labconfig/page_config.json``).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

CONNECTION_MODULE = (
    Path(__file__).resolve().parents[4] / "images" / "jupyter-server" / "orchest_jupyter.py"
)
"""The module of the Jupyter server's connection class to Enterprise Gateway."""
CONNECTION_CLASS = "orchest_jupyter.GatewayConnection"

LAB_SETTINGS: dict[str, Any] = {
    # Lists the installed extensions only: no PyPI search, no install.
    "extension_manager": "readonly",
    # No news feed (the default is fetched from the Jupyter organisation).
    "news_url": None,
    # No look-up of Lab's latest release on PyPI.
    "check_for_updates_class": "jupyterlab.handlers.announcements.NeverCheckForUpdate",
}
"""``LabApp`` settings of every session's Jupyter server."""

PAGE_CONFIG: dict[str, Any] = {
    # The plugin that asks whether to fetch the news and checks for updates.
    "disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True},
}
"""Lab's page configuration, ``<config dir>/labconfig/page_config.json``
(the jupyter-server image holds the same file)."""


def lab_path(pipeline_path: str) -> str:
    """The URL path (from the server's root) of Lab opened in the folder of
    ``pipeline_path`` (relative to the project, the server's root
    directory): ``/lab/tree/<folder>``, or ``/lab`` at the project's root."""
    folder = PurePosixPath(pipeline_path).parent
    parts = [part for part in folder.parts if part not in ("", ".")]
    if not parts or ".." in parts or folder.is_absolute():
        return "/lab"
    return "/lab/tree/" + "/".join(quote(part, safe="") for part in parts)


def server_config(pipeline_path: str) -> dict[str, dict[str, Any]]:
    """Lab's part of the Jupyter server's configuration, by class."""
    return {
        "ServerApp": {
            "default_url": lab_path(pipeline_path),
            "kernel_websocket_connection_class": CONNECTION_CLASS,
        },
        "LabApp": dict(LAB_SETTINGS),
    }


def server_arguments(pipeline_path: str) -> list[str]:
    """The same as command-line options (``None`` is ``None`` for traitlets)."""
    return [
        f"--{section}.{name}={value}"
        for section, values in server_config(pipeline_path).items()
        for name, value in values.items()
    ]
