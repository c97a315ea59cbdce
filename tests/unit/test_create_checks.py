"""A run's definition checks remembered per distinct definition and selection."""

from __future__ import annotations

from typing import Any

from orchest_scheduler.create_checks import CheckedRuns, check
from orchest_scheduler.definitions import DefinitionStore, encode_definition
from orchest_scheduler.runs import plan_steps
from orchest_schemas.pipeline import PipelineDefinition
from orchest_schemas.status import RunType


def chain(n: int, **settings: Any) -> PipelineDefinition:
    steps = {
        f"s{i}": {
            "uuid": f"s{i}",
            "title": f"S{i}",
            "file_path": f"s{i}.py",
            "incoming_connections": [f"s{i - 1}"] if i else [],
        }
        for i in range(n)
    }
    return PipelineDefinition.model_validate(
        {"uuid": "p", "name": "p", "settings": settings, "steps": steps}
    )


def cyclic() -> PipelineDefinition:
    data = chain(2).model_dump()
    data["steps"]["s0"]["incoming_connections"] = ["s1"]
    return PipelineDefinition.model_validate(data)


def test_a_hit_answers_what_the_checks_answer() -> None:
    cache = CheckedRuns()
    for definition, run_type, uuids in [
        (chain(3), RunType.FULL, []),
        (chain(3), RunType.SELECTION, ["s1"]),
        (chain(3), RunType.INCOMING, ["s2"]),
        (chain(3), RunType.SELECTION, ["nope"]),
        (cyclic(), RunType.FULL, []),
        (chain(3, retries=2), RunType.FULL, []),
    ]:
        first = cache.check(definition, run_type, uuids)
        again = cache.check(definition.model_copy(deep=True), run_type, list(uuids))
        assert first == again == check(definition, run_type, uuids)
        if not first.problems:
            rows, _ = plan_steps(definition, [r.uuid for r in first.rows])
            assert list(first.rows) == rows
    assert cache.hits == 6 and len(cache) == 6
    assert check(cyclic(), RunType.FULL, []).problems  # the cycle is told
    selected = cache.check(chain(3), RunType.SELECTION, ["s1"])
    assert [r.uuid for r in selected.rows] == ["s1"] and selected.rows[0].parents == ()


def test_the_json_is_the_stores() -> None:
    definition = chain(4)
    checked = CheckedRuns().check(definition, RunType.FULL, [])
    assert checked.data == encode_definition(definition)
    assert checked.key == DefinitionStore.key_of(definition)
    assert DefinitionStore.key_of(definition) == DefinitionStore.key_of(
        PipelineDefinition.model_validate_json(checked.data)
    )


def test_a_changed_definition_is_checked_again() -> None:
    cache = CheckedRuns()
    one = cache.check(chain(3), RunType.FULL, [])
    other = cache.check(chain(3, retries=4), RunType.FULL, [])
    assert cache.hits == 0
    assert {r.max_retries for r in other.rows} == {4} != {r.max_retries for r in one.rows}


def test_bounded_by_entries_and_bytes() -> None:
    cache = CheckedRuns(max_entries=3)
    for n in range(1, 6):
        cache.check(chain(n), RunType.FULL, [])
    assert len(cache) == 3
    cache.check(chain(1), RunType.FULL, [])  # evicted: checked again
    assert cache.hits == 0
    size = len(encode_definition(chain(5)))
    small = CheckedRuns(max_bytes=size * 2)
    for n in (5, 5, 4, 3):
        small.check(chain(n), RunType.FULL, [])
    assert small.hits == 1 and len(small) == 2  # chain(5) evicted for 4 and 3
    huge = CheckedRuns(max_bytes=size - 1)
    huge.check(chain(5), RunType.FULL, [])
    assert len(huge) == 0
