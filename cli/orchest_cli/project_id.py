"""A project folder's identity, as the CLI sends it with runs, jobs and sessions.

A project has no file of its own, so the uuid of a folder is derived from its
absolute path (symlinks resolved): the same folder always gives the same
uuid, the one the API gives the folder when it registers it, so
``ORCHEST_PROJECT_UUID`` is stable across runs, jobs and sessions started
from it.
"""

from __future__ import annotations

import uuid
from pathlib import Path


def project_uuid_of(project_dir: Path) -> str:
    """The project's uuid: a uuid5 of its absolute path's ``file:`` URL."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, project_dir.resolve().as_uri()))
