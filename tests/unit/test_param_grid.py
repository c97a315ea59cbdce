"""``orchest jobs create --param-grid``: a grid's expansion into parameter sets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchest_cli.errors import CliError
from orchest_cli.jobs import ParamGridError, expand_param_grid, load_param_grid


def test_a_list_is_used_as_it_is() -> None:
    sets = [{"pipeline_parameters": {"a": 1}}, {"step-1": {"b": [1, 2]}}, {}]
    assert expand_param_grid(sets) == sets


def test_every_combination_the_last_name_varying_fastest() -> None:
    grid = {
        "pipeline_parameters": {"alpha": [1, 2], "mode": ["x", "y"]},
        "step-1": {"n": [10, 20, 30]},
    }
    sets = expand_param_grid(grid)
    assert len(sets) == 2 * 2 * 3
    assert sets[0] == {"pipeline_parameters": {"alpha": 1, "mode": "x"}, "step-1": {"n": 10}}
    assert sets[1] == {"pipeline_parameters": {"alpha": 1, "mode": "x"}, "step-1": {"n": 20}}
    assert sets[3] == {"pipeline_parameters": {"alpha": 1, "mode": "y"}, "step-1": {"n": 10}}
    assert sets[-1] == {"pipeline_parameters": {"alpha": 2, "mode": "y"}, "step-1": {"n": 30}}
    triples = [
        (s["pipeline_parameters"]["alpha"], s["pipeline_parameters"]["mode"], s["step-1"]["n"])
        for s in sets
    ]
    assert triples == [(a, m, n) for a in (1, 2) for m in ("x", "y") for n in (10, 20, 30)]


def test_the_documents_order_decides_not_the_keys_names() -> None:
    document = '{"z-step": {"b": [1, 2]}, "pipeline_parameters": {"a": ["p", "q"]}}'
    sets = expand_param_grid(json.loads(document))
    assert list(sets[0]) == ["z-step", "pipeline_parameters"]
    assert [(s["z-step"]["b"], s["pipeline_parameters"]["a"]) for s in sets] == [
        (1, "p"),
        (1, "q"),
        (2, "p"),
        (2, "q"),
    ]


def test_values_that_are_lists_stay_whole() -> None:
    sets = expand_param_grid({"pipeline_parameters": {"layers": [[8, 8], [16]]}})
    assert sets == [
        {"pipeline_parameters": {"layers": [8, 8]}},
        {"pipeline_parameters": {"layers": [16]}},
    ]


def test_a_key_without_names_is_kept_empty_and_an_empty_grid_is_one_set() -> None:
    assert expand_param_grid({"pipeline_parameters": {}, "s": {"a": [1]}}) == [
        {"pipeline_parameters": {}, "s": {"a": 1}}
    ]
    assert expand_param_grid({}) == [{}]


def test_every_problem_is_named() -> None:
    with pytest.raises(ParamGridError) as caught:
        expand_param_grid(
            {"pipeline_parameters": {"a": 1, "b": [], "c": [1]}, "step": ["not", "an", "object"]}
        )
    assert caught.value.problems == [
        "pipeline_parameters.a: must be a non-empty list of values",
        "pipeline_parameters.b: must be a non-empty list of values",
        "step: must be an object of value lists",
    ]
    with pytest.raises(ParamGridError) as caught:
        expand_param_grid([{"pipeline_parameters": {}}, 3, {"s": 1}])
    assert [p.split(":")[0] for p in caught.value.problems] == ["[1]", "[2]"]
    with pytest.raises(ParamGridError):
        expand_param_grid("alpha")


def test_too_many_combinations_are_refused_before_expanding() -> None:
    grid = {"pipeline_parameters": {name: list(range(100)) for name in "abcdef"}}
    with pytest.raises(ParamGridError, match=r"1000000000000 combinations"):
        expand_param_grid(grid)
    assert len(expand_param_grid({"p": {"a": [1, 2, 3]}}, limit=3)) == 3


def test_a_grid_file_that_is_not_json_or_not_a_grid_is_a_cli_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(CliError, match=r"bad\.json"):
        load_param_grid(bad)
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"pipeline_parameters": {"a": 1}}')
    with pytest.raises(CliError, match=r"pipeline_parameters\.a"):
        load_param_grid(wrong)
    good = tmp_path / "good.json"
    good.write_text('{"pipeline_parameters": {"a": [1, 2]}}')
    assert load_param_grid(good) == [
        {"pipeline_parameters": {"a": 1}},
        {"pipeline_parameters": {"a": 2}},
    ]
