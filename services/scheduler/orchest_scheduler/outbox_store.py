"""The outbox table's statements (a run's rows are inserted by the statement
that makes the decision: ``run_store.create_run``, ``plan_store.write_plan``).

A row holds the messages of one write, in order (arrays of one length); a
message read back carries its row's id, which it shares with the others of
its write, and rows are deleted whole once all their messages are published.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from .sql import Connection, Executor


@dataclass(frozen=True)
class StoredMessage:
    id: int
    """Its row's (shared by the messages of one write)."""
    subject: str
    msg_id: str | None
    payload: bytes
    jetstream: bool


_COLUMNS = "id, subjects, msg_ids, payloads, jetstream"


def _messages(rows: Sequence[asyncpg.Record]) -> list[StoredMessage]:
    """Each row's messages, in row order, then in their order in the row."""
    return [
        StoredMessage(r["id"], subject, msg_id, bytes(payload), jetstream)
        for r in rows
        for subject, msg_id, payload, jetstream in zip(
            r["subjects"], r["msg_ids"], r["payloads"], r["jetstream"], strict=True
        )
    ]


@dataclass(frozen=True)
class OutboxRow:
    """A message to write: published once the transaction that wrote it commits."""

    subject: str
    msg_id: str | None
    payload: bytes
    jetstream: bool


async def insert(conn: Connection, rows: Sequence[OutboxRow]) -> list[int]:
    """Write the messages, as one row, in the caller's transaction; the id of
    each (its row's)."""
    if not rows:
        return []
    outbox_id = await conn.fetchval(
        "INSERT INTO outbox (subjects, msg_ids, payloads, jetstream)"
        " VALUES ($1::text[], $2::text[], $3::bytea[], $4::bool[]) RETURNING id",
        [r.subject for r in rows],
        [r.msg_id for r in rows],
        [r.payload for r in rows],
        [r.jetstream for r in rows],
    )
    return [outbox_id] * len(rows)


async def claim(conn: Connection, after: int, limit: int) -> list[StoredMessage]:
    """Lock the next rows in commit order (inside the caller's transaction),
    skipping those another replica is publishing: their messages."""
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
    # A backend of another database or role under that pid is not the writer
    # (which is gone then): left alone.
    rows = await conn.fetch(
        "SELECT pg_terminate_backend(pid, $2) AS gone FROM pg_stat_activity"
        " WHERE pid = $1 AND pid <> pg_backend_pid()"
        " AND datname = current_database() AND usename = current_user",
        writer,
        max(1, int(wait_seconds * 1000)),
    )
    return all(row["gone"] for row in rows)


async def delete(db: Executor, ids: Sequence[int]) -> None:
    """Delete rows (an id given once per message of its row is one row)."""
    await db.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", list(set(ids)))
