"""Settings of the gateway."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, PositiveFloat, SecretStr

from orchest_service.settings import ServiceSettings

from .streams import Window


class GatewaySettings(ServiceSettings):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    reuse_port: bool = False
    """Listen with ``SO_REUSEPORT``: several gateway processes (of the same
    user) share the port, the kernel spreading new connections among them."""
    discovery_timeout_seconds: PositiveFloat = 0.5
    """Longest wait for service instances to answer the health check's discovery."""
    discovery_quiet_seconds: PositiveFloat = 0.05
    """Once every service answered, how long to wait for more replicas."""
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    """Larger request bodies are refused with 413."""
    max_json_depth: int = Field(default=64, ge=8, le=500)
    """Request bodies nested deeper are refused with 422."""
    max_steps: int = Field(default=5000, ge=1)
    """Definitions with more steps are refused with 422."""
    max_parameters_bytes: int = Field(default=64 * 1024, ge=64)
    """Largest JSON size of one parameters object (a pipeline's, a step's, a
    job's parameter set); larger ones are refused with 422. Steps get their
    merged parameters in an environment variable, which Linux caps at 128 KiB."""
    command_timeout_seconds: PositiveFloat = 10.0
    """How long a request waits for the owning service's answer (then 503)."""
    sse_keepalive_seconds: PositiveFloat = 15.0
    sse_stall_seconds: PositiveFloat = 30.0
    """An event-stream client that takes no frame for this long is sent an
    ``event: error`` (with the ``Last-Event-ID`` to resume from) and dropped;
    one that does not take that either within as long is disconnected."""
    sse_queue_events: int = Field(default=1024, ge=1)
    """The most live events an event-stream connection holds for its client:
    a client further behind is sent an ``event: error`` (with the
    ``Last-Event-ID`` to resume from) and dropped."""
    sse_feed_linger_seconds: float = Field(default=5.0, ge=0)
    """How long the live events are still read once the last event stream
    ended (a client reconnecting, a dashboard changing page, finds them
    read); then the gateway stops reading them until the next one comes."""
    read_window_messages: int = Field(default=64, ge=1, le=10_000)
    """The most messages an event stream or a log read holds in the gateway:
    the next ones are asked of JetStream once these were sent."""
    read_window_bytes: int = Field(default=1024 * 1024, ge=1024)
    """The most bytes of messages they hold (one larger message is read alone)."""
    api_tokens: SecretStr = SecretStr("")
    """Comma-separated bearer tokens; when any is set, every endpoint but
    ``/api/ping`` needs ``Authorization: Bearer <one of them>``."""

    ui_dir: Path | None = None
    """The web dashboard's build (``index.html`` and ``assets/``) served at
    ``/``; unset: ``ui/dist`` of the repository this package is installed from."""

    @property
    def dashboard_dir(self) -> Path:
        if self.ui_dir is not None:
            return self.ui_dir
        return Path(__file__).resolve().parents[3] / "ui" / "dist"

    @property
    def read_window(self) -> Window:
        return Window(messages=self.read_window_messages, bytes=self.read_window_bytes)

    @property
    def tokens(self) -> tuple[str, ...]:
        """The configured bearer tokens (none: the API is open)."""
        raw = self.api_tokens.get_secret_value()
        return tuple(token.strip() for token in raw.split(",") if token.strip())
