"""A run's definition checks remembered per distinct definition and selection."""

from __future__ import annotations

from typing import Any

import pytest

from orchest_scheduler import create_checks
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


def test_the_same_object_is_not_encoded_again(monkeypatch: pytest.MonkeyPatch) -> None:
    encoded: list[PipelineDefinition] = []

    def counted(definition: PipelineDefinition) -> bytes:
        encoded.append(definition)
        return encode_definition(definition)

    monkeypatch.setattr(create_checks, "encode_definition", counted)
    cache = CheckedRuns()
    definition = chain(3)
    first = cache.check(definition, RunType.FULL, [])
    assert cache.check(definition, RunType.FULL, []) == first
    assert cache.check(definition, RunType.SELECTION, ["s1"]).rows[0].uuid == "s1"
    assert len(encoded) == 1
    # An equal copy is another object: encoded (its checks are still a hit).
    assert cache.check(definition.model_copy(deep=True), RunType.FULL, []) == first
    assert len(encoded) == 2 and cache.hits == 2
    assert first.data == encode_definition(definition)


def test_the_objects_held_for_their_json_are_bounded() -> None:
    cache = CheckedRuns()
    kept = [chain(3) for _ in range(create_checks.ENCODED_ENTRIES + 10)]
    for definition in kept:
        cache.check(definition, RunType.FULL, [])
    assert len(cache._encoded) == create_checks.ENCODED_ENTRIES
    large = chain(800)  # over ENCODED_MAX_BYTES of JSON: not held
    assert len(encode_definition(large)) > create_checks.ENCODED_MAX_BYTES
    cache.check(large, RunType.FULL, [])
    assert id(large) not in cache._encoded
    many = CheckedRuns()
    for _ in range(8):
        many.check(chain(450), RunType.FULL, [])
    held = sum(len(data) for _, data in many._encoded.values())
    assert 0 < len(many._encoded) < 8
    assert held == many._encoded_held <= create_checks.ENCODED_MAX_HELD
