"""The outbox table's statements (a run's rows are inserted by the statement
that makes the decision: ``run_store.create_run``, ``plan_store.write_plan``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from .sql import Connection, Executor


@dataclass(frozen=True)
class StoredMessage:
    id: int
    subject: str
    msg_id: str | None
    payload: bytes
    jetstream: bool


_COLUMNS = "id, subject, msg_id, payload, jetstream"


def _messages(rows: Sequence[asyncpg.Record]) -> list[StoredMessage]:
    return [
        StoredMessage(r["id"], r["subject"], r["msg_id"], bytes(r["payload"]), r["jetstream"])
        for r in rows
    ]


@dataclass(frozen=True)
class OutboxRow:
    """A message to write: published once the transaction that wrote it commits."""

    subject: str
    msg_id: str | None
    payload: bytes
    jetstream: bool


async def insert(conn: Connection, rows: Sequence[OutboxRow]) -> list[int]:
    """Write the rows in the caller's transaction; their ids, in order."""
    ids = await conn.fetch(
        "INSERT INTO outbox (subject, msg_id, payload, jetstream)"
        " SELECT o.subject, o.msg_id, o.payload, o.jetstream"
        " FROM unnest($1::text[], $2::text[], $3::bytea[], $4::bool[]) WITH ORDINALITY"
        " AS o(subject, msg_id, payload, jetstream, n) ORDER BY o.n RETURNING id",
        [r.subject for r in rows],
        [r.msg_id for r in rows],
        [r.payload for r in rows],
        [r.jetstream for r in rows],
    )
    return sorted(r["id"] for r in ids)


async def claim(conn: Connection, after: int, limit: int) -> list[StoredMessage]:
    """Lock the next rows in commit order (inside the caller's transaction),
    skipping those another replica is publishing."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM outbox WHERE id > $1 ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED",
        after,
        limit,
    )
    return _messages(rows)


async def written_by(db: Executor, writer: int) -> list[StoredMessage]:
    """The committed rows a backend (by its pid) wrote and nobody deleted yet."""
    rows = await db.fetch(f"SELECT {_COLUMNS} FROM outbox WHERE writer = $1 ORDER BY id", writer)
    return _messages(rows)


async def fence(conn: Connection, writer: int, wait_seconds: float) -> bool:
    """Make sure backend ``writer`` can commit nothing from now on: terminate it
    and wait (up to ``wait_seconds``) for it to exit; its open transaction, if
    any, is rolled back. True when it is gone (or was already, or is ``conn``'s
    own backend, whose previous transaction is over since it runs this);
    False when it has not exited in time."""
    rows = await conn.fetch(
        "SELECT pg_terminate_backend(pid, $2) AS gone FROM pg_stat_activity"
        " WHERE pid = $1 AND pid <> pg_backend_pid()",
        writer,
        max(1, int(wait_seconds * 1000)),
    )
    return all(row["gone"] for row in rows)


async def delete(db: Executor, ids: Sequence[int]) -> None:
    await db.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", list(ids))
