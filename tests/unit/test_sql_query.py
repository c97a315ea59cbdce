"""Named SQL parameters (``orchest_scheduler.sql.Query``): compiled to ``$n``
in order of first use, casts left alone, values given by name only."""

from __future__ import annotations

from typing import Any

import pytest

from orchest_scheduler.sql import Query, QueryError


@pytest.mark.parametrize(
    ("text", "compiled", "names"),
    [
        ("SELECT :a, :b", "SELECT $1, $2", ("a", "b")),
        ("SELECT :b, :a, :b", "SELECT $1, $2, $1", ("b", "a")),
        (
            "VALUES (:doc::jsonb, :at::timestamptz)",
            "VALUES ($1::jsonb, $2::timestamptz)",
            ("doc", "at"),
        ),
        (
            "SELECT x::text[] FROM t WHERE y = :y_2",
            "SELECT x::text[] FROM t WHERE y = $1",
            ("y_2",),
        ),
        ("SELECT interval '1 second'", "SELECT interval '1 second'", ()),
    ],
)
def test_names_become_numbered_parameters(text: str, compiled: str, names: tuple[str, ...]) -> None:
    query = Query(text)
    assert (query.text, query.names) == (compiled, names)


def test_values_are_given_in_the_statements_order() -> None:
    query = Query("UPDATE t SET b = :b WHERE a = :a AND c = :b")
    assert query.args(a=1, b="two") == ["two", 1]


@pytest.mark.parametrize("values", [{"a": 1}, {"a": 1, "b": 2, "c": 3}, {}])
def test_a_missing_or_unknown_value_is_refused(values: dict[str, Any]) -> None:
    with pytest.raises(QueryError):
        Query("SELECT :a, :b").args(**values)
