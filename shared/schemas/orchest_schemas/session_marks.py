"""How a process session's processes are marked, so that whoever knows the
sessions directory finds them again: the session manager (to stop a session,
to adopt one after a restart) and ``orchest down`` (to leave nothing behind).

Every process of a session carries ``ORCHEST_SESSION=<owner>:<session
uuid>`` and ``ORCHEST_SESSION_ROLE=<role>`` in its environment; ``owner``
names one sessions directory among the host's processes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

MARKER_VARIABLE = "ORCHEST_SESSION"
"""``<owner>:<session uuid>``, in the environment of every process of a session."""
ROLE_VARIABLE = "ORCHEST_SESSION_ROLE"


def owner_key(sessions_dir: Path) -> str:
    """Names the sessions of one sessions directory among a host's processes."""
    return hashlib.sha256(str(sessions_dir.resolve()).encode()).hexdigest()[:12]
