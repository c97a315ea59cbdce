"""Settings from ``ORCHEST_*`` environment variables, built once in ``__main__``."""

from __future__ import annotations

import socket
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import Field, PositiveFloat, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from orchest_schemas.bus import DEFAULT_PREFIX, BusNames

from .loop import DEFAULT_EVENT_LOOP, EventLoopName


class ServiceSettings(BaseSettings):
    """What every service reads. Services subclass it with their own fields."""

    model_config = SettingsConfigDict(env_prefix="ORCHEST_", frozen=True, extra="ignore")

    nats_url: str = "nats://127.0.0.1:4222"
    """Comma-separated server URLs of the NATS cluster."""
    nats_user: str | None = None
    """The NATS user to connect as (with ``nats_password``); unset: no credentials."""
    nats_password: SecretStr | None = None
    database_url: str = "postgresql://postgres@127.0.0.1:5432/orchest"
    bus_prefix: str = DEFAULT_PREFIX
    event_loop: EventLoopName = DEFAULT_EVENT_LOOP
    """The process's event loop: ``uvloop``, or ``asyncio`` (CPython's own)."""
    log_level: str = "INFO"
    log_json: bool = False
    instance_host: str = Field(default_factory=socket.gethostname)
    connect_wait_seconds: PositiveFloat = 30.0
    """How long start-up waits for NATS and Postgres before giving up (and exiting)."""
    drain_timeout_seconds: PositiveFloat = 30.0
    """How long SIGTERM waits for in-flight work before giving up on it."""
    artifacts_ttl_seconds: PositiveFloat = 30 * 24 * 3600.0
    """How long run artifacts (executed notebooks) are kept."""
    db_pool_min_size: int = Field(default=1, ge=0)
    db_pool_max_size: int = Field(default=10, ge=1)

    @property
    def bus(self) -> BusNames:
        return BusNames(self.bus_prefix)

    @property
    def nats_servers(self) -> list[str]:
        """The server URLs; with ``nats_user`` set, each carries the credentials
        (percent-encoded, ``nats://user:password@host:port``), which
        ``broker.connect`` takes out again and sends as the connection's."""
        urls = [url.strip() for url in self.nats_url.split(",") if url.strip()]
        if self.nats_user is None:
            return urls
        password = self.nats_password.get_secret_value() if self.nats_password else ""
        return [with_credentials(url, self.nats_user, password) for url in urls]


def with_credentials(url: str, user: str, password: str) -> str:
    """``url`` with ``user:password@`` (percent-encoded) in place of any userinfo."""
    parts = urlsplit(url if "://" in url else f"nats://{url}")
    host = parts.netloc.rpartition("@")[2]
    userinfo = f"{quote(user, safe='')}:{quote(password, safe='')}"
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{host}"))
