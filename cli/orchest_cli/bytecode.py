"""The stack's Python processes write the bytecode of what they import."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


def bytecode_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The bytecode settings of the stack's processes (the supervisor, the
    services): they write the bytecode of what they import, so that every
    start after the first loads it.

    Under ``PYTHONDONTWRITEBYTECODE`` each of the four services compiled its
    whole import closure (pydantic, nats-py, aiohttp, asyncpg, starlette...)
    from source at every start, four processes at once on the machine's cores:
    about 2 s of a start here. When that variable is set, it is dropped for
    them and their bytecode goes to a cache of its own
    (``PYTHONPYCACHEPREFIX``, ``$XDG_CACHE_HOME/orchest/pycache``) rather than
    next to the sources; a prefix the user set is kept.
    """
    env = dict(environ)
    if env.pop("PYTHONDONTWRITEBYTECODE", None) is not None and not env.get("PYTHONPYCACHEPREFIX"):
        cache = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        env["PYTHONPYCACHEPREFIX"] = str(Path(cache) / "orchest" / "pycache")
    return env
