"""SQL with named parameters: a statement is written with ``:name``
placeholders, compiled once to asyncpg's ``$1 .. $n``, and given its values by
name, so a long statement reads in its own order and no value can land in
another's place.

    query = Query("SELECT uuid FROM runs WHERE status = :status AND job_uuid = :job")
    rows = await query.fetch(conn, status="PENDING", job=job_uuid)

Casts (``::jsonb``) are left alone; a name given twice is one parameter.
"""

from __future__ import annotations

import re
from typing import Any

import asyncpg

Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy
Executor = Connection | asyncpg.Pool

_NAME = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


class QueryError(Exception):
    """A statement given other values than the names it has."""


class Query:
    def __init__(self, text: str) -> None:
        names: list[str] = []

        def number(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in names:
                names.append(name)
            return f"${names.index(name) + 1}"

        self.text = _NAME.sub(number, text)
        self.names = tuple(names)

    def args(self, **values: Any) -> list[Any]:
        """The values in the statement's ``$n`` order."""
        if values.keys() != set(self.names):
            missing = sorted(set(self.names) - values.keys())
            extra = sorted(values.keys() - set(self.names))
            raise QueryError(f"values missing: {missing}; values unknown: {extra}")
        return [values[name] for name in self.names]

    async def fetch(self, db: Executor, **values: Any) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await db.fetch(self.text, *self.args(**values))
        return rows

    async def fetchrow(self, db: Executor, **values: Any) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await db.fetchrow(self.text, *self.args(**values))
        return row

    async def fetchval(self, db: Executor, **values: Any) -> Any:
        return await db.fetchval(self.text, *self.args(**values))

    async def execute(self, db: Executor, **values: Any) -> str:
        status: str = await db.execute(self.text, *self.args(**values))
        return status
