"""The embedded servers' ports: chosen below the kernel's ephemeral range
(where no outgoing connection or bind to port 0 can take them), and a server
whose chosen port was taken before it bound it starts on another. A port the
caller gave is kept: the start fails with the server's own words."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import nats
import pytest

from orchest_cli.embedded import EmbeddedNats, EmbeddedPostgres
from orchest_cli.embedded_server import EPHEMERAL_RANGE, LOOPBACK, free_port
from orchest_cli.processes import EmbeddedStartError


@contextmanager
def listener() -> Iterator[int]:
    """A port another program listens on meanwhile."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, free_port()))
        sock.listen()
        yield sock.getsockname()[1]


def make(kind: str, root: Path, port: int | None = None) -> EmbeddedNats | EmbeddedPostgres:
    if kind == "nats":
        return EmbeddedNats(root / "store", root / "nats.log", port)
    return EmbeddedPostgres(root / "pg", root / "pg.log", port)


async def answers(server: EmbeddedNats | EmbeddedPostgres) -> None:
    if isinstance(server, EmbeddedNats):
        nc = await nats.connect(server.url)
        await nc.close()
    else:
        conn = await asyncpg.connect(server.url())
        await conn.close()


def test_a_chosen_port_is_below_the_ephemeral_range() -> None:
    low = int(EPHEMERAL_RANGE.read_text().split()[0])
    ports = {free_port() for _ in range(20)}
    assert all(low // 2 <= port < low for port in ports), ports


@pytest.mark.parametrize("kind", ["nats", "postgres"])
async def test_a_server_whose_chosen_port_was_taken_starts_on_another(
    kind: str, tmp_path: Path
) -> None:
    server = make(kind, tmp_path)
    with listener() as taken:
        server.port = taken  # taken between its choice and the server's bind
        async with server:
            assert server.port != taken
            await answers(server)
    assert "already in use" in server.log_path.read_text().lower()  # it did meet the taken port


@pytest.mark.parametrize("kind", ["nats", "postgres"])
async def test_a_port_given_is_kept_and_a_taken_one_fails_the_start(
    kind: str, tmp_path: Path
) -> None:
    with listener() as taken:
        server = make(kind, tmp_path, taken)
        with pytest.raises(EmbeddedStartError, match=r"(?i)address already in use"):
            await server.start()
        assert server.port == taken
