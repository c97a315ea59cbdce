"""The pipeline graph: validation problems, cycles, partial-run selection, order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from orchest_scheduler.dag import (
    Problem,
    ancestors,
    children_map,
    descendants,
    parents_map,
    run_parents,
    select_steps,
    strongly_connected_components,
    topological_order,
    validate_definition,
)
from orchest_schemas.errors import ErrorDetail
from orchest_schemas.pipeline import PipelineDefinition
from orchest_schemas.status import RunType

Graph = Mapping[str, Sequence[str]]


def definition(graph: Graph, **fields: Mapping[str, Any]) -> PipelineDefinition:
    """Steps from ``{key: parents}``: title ``KEY``, file ``key.py``; ``fields`` override
    one field per step, e.g. ``file_path={"a": "/abs.py"}``."""
    steps: dict[str, dict[str, Any]] = {}
    for key, parents in graph.items():
        step: dict[str, Any] = {
            "uuid": key,
            "title": key.upper(),
            "file_path": f"{key}.py",
            "incoming_connections": list(parents),
        }
        for field, per_step in fields.items():
            if key in per_step:
                step[field] = per_step[key]
        steps[key] = step
    return PipelineDefinition.model_validate({"uuid": "p", "name": "test", "steps": steps})


def kinds(problems: Sequence[Problem]) -> list[tuple[tuple[str | int, ...], str]]:
    return [(p.loc, p.type) for p in problems]


def step_loc(*rest: str | int) -> tuple[str | int, ...]:
    return ("pipeline_definition", "steps", *rest)


def reach(graph: Graph, node: str) -> set[str]:
    """Strict ancestors by naive recursion: the tests' independent oracle."""
    found: set[str] = set()
    for parent in graph[node]:
        found |= {parent} | reach(graph, parent)
    return found


# Shapes -------------------------------------------------------------------

CHAIN = {"a": [], "b": ["a"], "c": ["b"], "d": ["c"]}
DIAMOND = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}
ROOTS = {"r1": [], "r2": [], "r3": [], "m": ["r1", "r2"], "n": ["m", "r3"], "leaf": ["n"]}
PARTS = {"a": [], "b": ["a"], "c": ["b"], "x": [], "y": ["x"]}
FAN = {
    "src": [],
    **{f"w{i}": ["src"] for i in range(8)},
    "sink": [f"w{i}" for i in range(8)],
}
W = {f"w{i}" for i in range(8)}
SHAPES: dict[str, Graph] = {
    "chain": CHAIN,
    "diamond": DIAMOND,
    "roots": ROOTS,
    "parts": PARTS,
    "fan": FAN,
}


def test_a_valid_definition_of_every_shape_has_no_problem() -> None:
    for graph in SHAPES.values():
        assert validate_definition(definition(graph)) == []


# Validation problems ------------------------------------------------------


def test_uuid_mismatch() -> None:
    problems = validate_definition(definition({"a": [], "b": ["a"]}, uuid={"b": "other"}))
    assert kinds(problems) == [(step_loc("b", "uuid"), "uuid_mismatch")]
    assert "'other'" in problems[0].msg and '"B" (b)' in problems[0].msg


def test_duplicate_uuid_names_every_step_sharing_it() -> None:
    problems = validate_definition(definition({"a": [], "b": [], "c": []}, uuid={"c": "a"}))
    assert kinds(problems) == [
        (step_loc("c", "uuid"), "uuid_mismatch"),
        (step_loc("a", "uuid"), "duplicate_uuid"),
        (step_loc("c", "uuid"), "duplicate_uuid"),
    ]
    assert '"C" (c)' in problems[1].msg and '"A" (a)' in problems[2].msg


def test_unknown_step_in_a_connection_points_at_its_index() -> None:
    problems = validate_definition(definition({"a": [], "b": ["a", "ghost"]}))
    assert kinds(problems) == [(step_loc("b", "incoming_connections", 1), "unknown_step")]
    assert "'ghost'" in problems[0].msg and '"B" (b)' in problems[0].msg


def test_duplicate_connection() -> None:
    problems = validate_definition(definition({"a": [], "b": ["a", "a"]}))
    assert kinds(problems) == [(step_loc("b", "incoming_connections", 1), "duplicate_connection")]


@pytest.mark.parametrize(
    ("file_path", "expected"),
    [
        ("a.py", []),
        ("notebooks/Train.IPYNB", []),
        ("scripts/run.sh", []),
        ("analysis.R", []),
        ("./a/./b/../c.py", []),
        ("", ["empty_file_path"]),
        ("   ", ["empty_file_path"]),
        ("/abs/a.py", ["absolute_path"]),
        ("/../a.py", ["absolute_path"]),
        ("~/a.py", ["absolute_path"]),
        ("~user/a.py", ["absolute_path"]),
        ("../a.py", ["path_escape"]),
        ("a/../../a.py", ["path_escape"]),
        ("./../a.py", ["path_escape"]),
        ("a/b/../../../c/a.py", ["path_escape"]),
        ("a.txt", ["unsupported_file_type"]),
        ("run", []),  # no extension: bash, as Orchest ran it
        ("scripts/model.jl", []),
        ("scripts/app.js", []),
        ("a/.", []),  # PurePosixPath drops the "." (the file a)
        ("a/..", ["unsupported_file_type"]),  # no file name
        ("../a.txt", ["path_escape", "unsupported_file_type"]),
        ("/a.txt", ["absolute_path", "unsupported_file_type"]),
    ],
)
def test_file_path_problems(file_path: str, expected: list[str]) -> None:
    problems = validate_definition(definition({"a": []}, file_path={"a": file_path}))
    assert [p.type for p in problems] == expected
    assert all(p.loc == step_loc("a", "file_path") for p in problems)


def test_unsupported_file_type_lists_the_supported_ones() -> None:
    (problem,) = validate_definition(definition({"a": []}, file_path={"a": "a.txt"}))
    assert all(ext in problem.msg for ext in (".ipynb", ".py", ".sh", ".r", ".jl", ".js"))
    assert "files without an extension (run with bash" in problem.msg


def test_every_problem_is_listed_in_step_key_order() -> None:
    graph = {"b": ["ghost", "a"], "a": ["a"], "c": ["b", "b"]}
    problems = validate_definition(
        definition(graph, file_path={"a": "../x.py", "c": ""}, uuid={"c": "b"})
    )
    assert kinds(problems) == [
        (step_loc("a", "file_path"), "path_escape"),
        (step_loc("b", "incoming_connections", 0), "unknown_step"),
        (step_loc("c", "uuid"), "uuid_mismatch"),
        (step_loc("c", "file_path"), "empty_file_path"),
        (step_loc("c", "incoming_connections", 1), "duplicate_connection"),
        (step_loc("b", "uuid"), "duplicate_uuid"),
        (step_loc("c", "uuid"), "duplicate_uuid"),
        (step_loc("a"), "cycle"),
    ]


def test_problem_to_detail() -> None:
    problem = Problem(step_loc("a", "incoming_connections", 0), "bad", "unknown_step")
    assert problem.to_detail() == ErrorDetail(
        loc=["pipeline_definition", "steps", "a", "incoming_connections", 0],
        msg="bad",
        type="unknown_step",
    )


# Cycles -------------------------------------------------------------------


def cycle_messages(graph: Graph) -> list[tuple[tuple[str | int, ...], str]]:
    problems = validate_definition(definition(graph))
    assert {p.type for p in problems} == {"cycle"}
    return [(p.loc, p.msg) for p in problems]


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        pytest.param(
            {"a": ["b"], "b": ["a"]},
            [("a", '"A" (a) -> "B" (b) -> "A" (a)')],
            id="two-cycle",
        ),
        pytest.param(
            {"a": ["b"], "b": ["c"], "c": ["a"]},
            [("a", '"A" (a) -> "C" (c) -> "B" (b) -> "A" (a)')],
            id="three-cycle-against-key-order",
        ),
        pytest.param(
            {"c": ["b"], "a": ["c"], "b": ["a"]},
            [("a", '"A" (a) -> "B" (b) -> "C" (c) -> "A" (a)')],
            id="three-cycle",
        ),
        pytest.param(
            {"a": ["b"], "b": ["a"], "x": ["z"], "y": ["x"], "z": ["y"], "ok": ["a"]},
            [
                ("a", '"A" (a) -> "B" (b) -> "A" (a)'),
                ("x", '"X" (x) -> "Y" (y) -> "Z" (z) -> "X" (x)'),
            ],
            id="two-separate-cycles",
        ),
        pytest.param(
            {"a": [], "s": ["a", "s"]},
            [("s", '"S" (s) -> "S" (s)')],
            id="self-loop",
        ),
        pytest.param(
            {"r": [], "v": ["r"], "x": ["v", "z"], "y": ["x"], "z": ["y"], "after": ["z"]},
            [("x", '"X" (x) -> "Y" (y) -> "Z" (z) -> "X" (x)')],
            id="cycle-below-a-valid-part",
        ),
    ],
)
def test_cycles_are_named_in_cycle_order(graph: Graph, expected: list[tuple[str, str]]) -> None:
    found = cycle_messages(graph)
    assert [loc for loc, _ in found] == [step_loc(start) for start, _ in expected]
    for (_, msg), (_, chain) in zip(found, expected, strict=True):
        assert chain in msg


def test_a_cycle_with_a_self_loop_inside_is_reported_twice() -> None:
    found = cycle_messages({"a": ["b", "a"], "b": ["a"]})
    assert [loc for loc, _ in found] == [step_loc("a"), step_loc("a")]
    assert '"A" (a) -> "B" (b) -> "A" (a)' in found[0][1]
    assert '"A" (a) -> "A" (a)' in found[1][1]


def test_a_tangle_of_cycles_names_one_cycle_and_the_other_steps() -> None:
    # a -> b -> a and b -> c -> a: one component of three steps.
    (only,) = cycle_messages({"a": ["b", "c"], "b": ["a"], "c": ["b"]})
    assert only[0] == step_loc("a")
    assert '"A" (a) -> "B" (b) -> "A" (a)' in only[1]
    assert '"C" (c)' in only[1].split("->")[-1]


def test_strongly_connected_components() -> None:
    components = strongly_connected_components(
        {"a": ["b"], "b": ["c"], "c": ["a", "d"], "d": [], "e": ["e", "outside"]}
    )
    assert sorted(sorted(c) for c in components) == [["a", "b", "c"], ["d"], ["e"]]


# Graph walks --------------------------------------------------------------


def test_parents_map_keeps_order_and_drops_unknown_and_repeated_parents() -> None:
    parents = parents_map(definition({"a": [], "b": [], "c": ["b", "ghost", "a", "b"]}))
    assert parents == {"a": (), "b": (), "c": ("b", "a")}


def test_children_map() -> None:
    assert children_map(DIAMOND) == {"a": ("b", "c"), "b": ("d",), "c": ("d",), "d": ()}


@pytest.mark.parametrize("shape", SHAPES)
def test_ancestors_and_descendants_match_the_naive_walk(shape: str) -> None:
    graph = SHAPES[shape]
    children = children_map(graph)
    for node in graph:
        assert ancestors(graph, [node]) == reach(graph, node)
        assert descendants(children, [node]) == {n for n in graph if node in reach(graph, n)}


def test_ancestors_are_strict_unless_a_root_is_reached() -> None:
    assert ancestors(CHAIN, ["c"]) == {"a", "b"}
    assert ancestors(CHAIN, ["a", "c"]) == {"a", "b"}
    assert ancestors({"a": ["b"], "b": ["a"]}, ["a"]) == {"a", "b"}
    assert descendants(children_map(CHAIN), ["b"]) == {"c", "d"}


@pytest.mark.parametrize(
    ("parents", "expected"),
    [
        (CHAIN, ["a", "b", "c", "d"]),
        ({"d": ["c"], "c": ["b"], "b": ["a"], "a": []}, ["a", "b", "c", "d"]),
        (DIAMOND, ["a", "b", "c", "d"]),
        ({"a": [], "c": ["a"], "b": ["a"], "d": ["b", "c"]}, ["a", "c", "b", "d"]),
        ({"z": [], "y": [], "x": ["z"]}, ["z", "y", "x"]),
        ({"b": ["a", "a"], "a": []}, ["a", "b"]),
    ],
)
def test_topological_order_breaks_ties_by_mapping_order(
    parents: Graph, expected: list[str]
) -> None:
    assert topological_order(parents) == expected


@pytest.mark.parametrize(
    "parents",
    [{"a": ["b"], "b": ["a"]}, {"a": ["a"]}, {"r": [], "a": ["r", "c"], "c": ["a"]}],
)
def test_topological_order_refuses_a_cycle(parents: Graph) -> None:
    with pytest.raises(ValueError, match="cycle"):
        topological_order(parents)


def test_topological_order_refuses_an_unknown_parent() -> None:
    with pytest.raises(ValueError, match="ghost"):
        topological_order({"a": ["ghost"]})


# Partial runs -------------------------------------------------------------

# (shape, run type, selection, expected steps)
SELECTIONS: list[tuple[str, RunType, list[str], set[str]]] = [
    ("chain", RunType.FULL, [], {"a", "b", "c", "d"}),
    ("chain", RunType.SELECTION, ["b", "d"], {"b", "d"}),
    ("chain", RunType.INCOMING, ["c"], {"a", "b"}),
    ("chain", RunType.INCOMING, ["b", "d"], {"a", "c"}),
    ("chain", RunType.SELECTION_WITH_ANCESTORS, ["c"], {"a", "b", "c"}),
    ("chain", RunType.DOWNSTREAM, ["b"], {"b", "c", "d"}),
    ("diamond", RunType.FULL, ["ignored"], {"a", "b", "c", "d"}),
    ("diamond", RunType.SELECTION, ["a", "d"], {"a", "d"}),
    ("diamond", RunType.INCOMING, ["d"], {"a", "b", "c"}),
    ("diamond", RunType.INCOMING, ["b"], {"a"}),
    ("diamond", RunType.SELECTION_WITH_ANCESTORS, ["b"], {"a", "b"}),
    ("diamond", RunType.DOWNSTREAM, ["b"], {"b", "d"}),
    ("diamond", RunType.DOWNSTREAM, ["a"], {"a", "b", "c", "d"}),
    ("roots", RunType.FULL, [], set(ROOTS)),
    ("roots", RunType.SELECTION, ["r3", "leaf", "r3"], {"r3", "leaf"}),
    ("roots", RunType.INCOMING, ["m"], {"r1", "r2"}),
    ("roots", RunType.INCOMING, ["leaf"], {"r1", "r2", "r3", "m", "n"}),
    ("roots", RunType.SELECTION_WITH_ANCESTORS, ["n"], {"r1", "r2", "r3", "m", "n"}),
    ("roots", RunType.DOWNSTREAM, ["r3"], {"r3", "n", "leaf"}),
    ("roots", RunType.DOWNSTREAM, ["r1", "r2"], {"r1", "r2", "m", "n", "leaf"}),
    ("parts", RunType.FULL, [], set(PARTS)),
    ("parts", RunType.SELECTION, ["c", "x"], {"c", "x"}),
    ("parts", RunType.INCOMING, ["c", "y"], {"a", "b", "x"}),
    ("parts", RunType.SELECTION_WITH_ANCESTORS, ["b", "y"], {"a", "b", "x", "y"}),
    ("parts", RunType.DOWNSTREAM, ["a"], {"a", "b", "c"}),
    ("parts", RunType.DOWNSTREAM, ["b", "x"], {"b", "c", "x", "y"}),
    ("fan", RunType.FULL, [], set(FAN)),
    ("fan", RunType.SELECTION, ["src", "sink"], {"src", "sink"}),
    ("fan", RunType.INCOMING, ["sink"], {"src"} | W),
    ("fan", RunType.INCOMING, ["w3"], {"src"}),
    ("fan", RunType.SELECTION_WITH_ANCESTORS, ["w3", "w5"], {"src", "w3", "w5"}),
    ("fan", RunType.DOWNSTREAM, ["w3"], {"w3", "sink"}),
    ("fan", RunType.DOWNSTREAM, ["src"], set(FAN)),
]


@pytest.mark.parametrize(("shape", "run_type", "selection", "expected"), SELECTIONS)
def test_select_steps(
    shape: str, run_type: RunType, selection: list[str], expected: set[str]
) -> None:
    graph = SHAPES[shape]
    steps, problems = select_steps(definition(graph), run_type, selection)
    assert problems == []
    assert set(steps) == expected
    assert len(steps) == len(expected)
    for i, step in enumerate(steps):
        assert not reach(graph, step) & set(steps[i + 1 :]), f"{step} runs before an ancestor"


def test_select_steps_breaks_ties_by_definition_order() -> None:
    graph = {"c": [], "a": [], "d": ["a", "c"], "b": []}
    assert select_steps(definition(graph), RunType.FULL, []) == (["c", "a", "d", "b"], [])
    reversed_chain = {"d": ["c"], "c": ["b"], "b": ["a"], "a": []}
    assert select_steps(definition(reversed_chain), RunType.SELECTION, ["d", "a"]) == (
        ["a", "d"],
        [],
    )


def test_select_steps_unknown_steps() -> None:
    steps, problems = select_steps(definition(CHAIN), RunType.SELECTION, ["a", "x", "b", "y"])
    assert steps == []
    assert kinds(problems) == [(("uuids", 1), "unknown_step"), (("uuids", 3), "unknown_step")]
    assert "'x'" in problems[0].msg


@pytest.mark.parametrize(
    "run_type",
    [
        RunType.SELECTION,
        RunType.INCOMING,
        RunType.SELECTION_WITH_ANCESTORS,
        RunType.DOWNSTREAM,
    ],
)
def test_select_steps_needs_a_selection(run_type: RunType) -> None:
    assert select_steps(definition(CHAIN), run_type, []) == (
        [],
        [Problem(("uuids",), f"A '{run_type}' run needs selected steps.", "empty_selection")],
    )


@pytest.mark.parametrize(("shape", "selection"), [("chain", ["a"]), ("roots", ["r1", "r3"])])
def test_select_steps_incoming_of_roots_runs_nothing(shape: str, selection: list[str]) -> None:
    steps, problems = select_steps(definition(SHAPES[shape]), RunType.INCOMING, selection)
    assert (steps, kinds(problems)) == ([], [(("uuids",), "nothing_to_run")])


def test_select_steps_full_run_of_an_empty_pipeline_runs_nothing() -> None:
    steps, problems = select_steps(definition({}), RunType.FULL, [])
    assert (steps, kinds(problems)) == ([], [(("pipeline_definition", "steps"), "nothing_to_run")])


def test_select_steps_leaves_rerun_failed_to_the_caller() -> None:
    steps, problems = select_steps(definition(CHAIN), RunType.RERUN_FAILED, ["a"])
    assert (steps, kinds(problems)) == ([], [(("run_type",), "unsupported_run_type")])


@pytest.mark.parametrize(
    ("shape", "steps", "expected"),
    [
        ("chain", ["a", "c"], {"a": (), "c": ()}),
        ("chain", ["b", "c", "d"], {"b": (), "c": ("b",), "d": ("c",)}),
        ("diamond", ["a", "b", "d"], {"a": (), "b": ("a",), "d": ("b",)}),
        ("diamond", ["a", "b", "c", "d"], {"a": (), "b": ("a",), "c": ("a",), "d": ("b", "c")}),
        ("fan", ["w1", "sink", "w1"], {"w1": (), "sink": ("w1",)}),
    ],
)
def test_run_parents_keeps_only_edges_between_run_steps(
    shape: str, steps: list[str], expected: dict[str, tuple[str, ...]]
) -> None:
    assert run_parents(definition(SHAPES[shape]), steps) == expected


# Scale --------------------------------------------------------------------

N = 10_000


def test_a_long_chain_is_validated_and_ordered_without_recursion() -> None:
    keys = [f"s{i:05d}" for i in range(N)]
    # Listed last-first, so the order has to be worked out, not copied.
    graph = {keys[i]: [keys[i - 1]] if i else [] for i in reversed(range(N))}
    pipeline = definition(graph)
    assert validate_definition(pipeline) == []
    assert select_steps(pipeline, RunType.FULL, []) == (keys, [])
    assert select_steps(pipeline, RunType.INCOMING, [keys[-1]]) == (keys[:-1], [])
    assert select_steps(pipeline, RunType.DOWNSTREAM, [keys[1]]) == (keys[1:], [])


def test_a_long_ring_is_one_named_cycle() -> None:
    keys = [f"s{i:05d}" for i in range(N)]
    graph = {keys[i]: [keys[i - 1]] for i in range(N)}  # s00000 follows s09999
    (problem,) = validate_definition(definition(graph))
    assert problem.type == "cycle" and problem.loc == step_loc(keys[0])
    assert problem.msg.count("->") == N
    assert '"S00000" (s00000) -> "S00001" (s00001)' in problem.msg
