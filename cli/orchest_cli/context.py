"""Where the stack is: the state directory and the API's URL a command uses.

``orchest up`` remembers the stack it started (its state directory and URL)
in ``<config>/context.json`` (``$ORCHEST_CONFIG_DIR``, else
``~/.config/orchest``), so later commands find it without ``--state-dir``.

The state directory: ``--state-dir``, else ``$ORCHEST_STATE_DIR``, else the
remembered one, else ``~/.local/share/orchest``.
The URL: ``--url``, else ``$ORCHEST_URL``, else the gateway recorded in the
state directory's ``run/stack.json`` (while its stack runs), else the
remembered URL (for that state directory), else ``127.0.0.1:$ORCHEST_PORT``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .statedir import DEFAULT_PORT, STATE_DIR_ENV, StateDir, default_state_dir

CONFIG_DIR_ENV = "ORCHEST_CONFIG_DIR"
URL_ENV = "ORCHEST_URL"


def config_dir() -> Path:
    if value := os.environ.get(CONFIG_DIR_ENV):
        return Path(value)
    import platformdirs

    return Path(platformdirs.user_config_dir("orchest", appauthor=False))


def context_file() -> Path:
    return config_dir() / "context.json"


def read_strings(path: Path) -> dict[str, str]:
    """The string entries of a JSON object file of the configuration folder
    (a missing or damaged file: none)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


def remembered() -> dict[str, str]:
    """The stack ``orchest up`` last started: ``{"state_dir": ..., "url": ...}``."""
    return read_strings(context_file())


def remember(state: StateDir, url: str) -> Path:
    """Make ``state`` (and its stack's URL) the current stack; the file written."""
    path = context_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"state_dir": str(state.root), "url": url}, indent=2))
    tmp.replace(path)
    return path


def default_port() -> int:
    return int(os.environ.get("ORCHEST_PORT", DEFAULT_PORT))


def state_of(option: Path | None) -> StateDir:
    """The state directory a command uses (see the module's docstring)."""
    if option is None and not os.environ.get(STATE_DIR_ENV):
        option = Path(remembered().get("state_dir") or default_state_dir())
    return StateDir((option or default_state_dir()).expanduser().resolve())


def api_url(state_option: Path | None, url_option: str | None) -> str:
    """The API's base URL a command talks to (see the module's docstring)."""
    if url_option:
        return url_option.rstrip("/")
    if value := os.environ.get(URL_ENV):
        return value.rstrip("/")
    state = state_of(state_option)
    recorded = (state.read_stack() or {}).get("gateway_url")
    if recorded:
        return str(recorded).rstrip("/")
    context = remembered()
    if context.get("url") and context.get("state_dir") == str(state.root):
        return context["url"].rstrip("/")
    return f"http://127.0.0.1:{default_port()}"
