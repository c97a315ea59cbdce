"""The pipeline as a graph: validation and partial-run selection (``docs/runs.md``).

Pure functions over the definition, no I/O. Steps are named by their key in
``definition.steps``; ``incoming_connections`` name a step's parents, so an edge
runs from a parent to the step that lists it. Validation lists every problem
it finds, in a fixed order, so the caller can answer one 422 with all of them.
The file-system checks (missing files, symlinks) live in ``project_files``.

Past 400 lines, on purpose: validation and selection walk the same graph with
the same helpers; apart, each would import the other's.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from orchest_schemas.errors import ErrorDetail
from orchest_schemas.pipeline import STEP_FILE_EXTENSIONS, PipelineDefinition, PipelineStep
from orchest_schemas.status import RunType

SUPPORTED_EXTENSIONS = STEP_FILE_EXTENSIONS
"""Step file types, compared lower-cased (``.R`` is supported; ``""``: no
extension, run with bash as Orchest did)."""

UNSAFE_PATH_PROBLEMS = frozenset({"empty_file_path", "absolute_path", "path_escape"})
"""Lexical problems after which a ``file_path`` must not be looked up on disk."""

_STEPS_LOC = ("pipeline_definition", "steps")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request: where (``loc``), what (``msg``), which kind (``type``)."""

    loc: tuple[str | int, ...]
    msg: str
    type: str

    def to_detail(self) -> ErrorDetail:
        return ErrorDetail(loc=list(self.loc), msg=self.msg, type=self.type)


# Validation ---------------------------------------------------------------


def validate_definition(definition: PipelineDefinition) -> list[Problem]:
    """Every problem of the definition: per step (keys sorted), then uuids shared
    by several steps, then every cycle."""
    steps = definition.steps
    problems: list[Problem] = []
    for key in sorted(steps):
        step = steps[key]
        if step.uuid != key:
            problems.append(
                Problem(
                    (*_STEPS_LOC, key, "uuid"),
                    f"Step {step_name(definition, key)} is stored under the key {key!r} "
                    f"but its uuid is {step.uuid!r}; they must be equal.",
                    "uuid_mismatch",
                )
            )
        problems.extend(file_path_problems(definition, key))
        problems.extend(_connection_problems(definition, key))
    problems.extend(_duplicate_uuid_problems(definition))
    problems.extend(_cycle_problems(definition))
    return problems


def step_name(definition: PipelineDefinition, key: str) -> str:
    """How messages name a step: ``"Title" (uuid)``."""
    step = definition.steps.get(key)
    if step is None or not step.title:
        return f"untitled ({key})"
    return f'"{step.title}" ({key})'


def file_path_problems(definition: PipelineDefinition, key: str) -> list[Problem]:
    """The lexical problems of one step's ``file_path`` (no file-system access)."""
    step: PipelineStep = definition.steps[key]
    file_path = step.file_path
    name = step_name(definition, key)
    loc = (*_STEPS_LOC, key, "file_path")
    if not file_path.strip():
        return [Problem(loc, f"Step {name} has an empty file_path.", "empty_file_path")]
    problems: list[Problem] = []
    path = PurePosixPath(file_path)
    if path.is_absolute() or file_path.startswith("~"):
        problems.append(
            Problem(
                loc,
                f"Step {name} has the absolute file_path {file_path!r}; "
                "file paths are relative to the project directory.",
                "absolute_path",
            )
        )
    elif _escapes(path):
        problems.append(
            Problem(
                loc,
                f"Step {name} has the file_path {file_path!r}, which leaves the project directory.",
                "path_escape",
            )
        )
    problem = _file_type_problem(path)
    if problem:
        problems.append(
            Problem(
                loc,
                f"Step {name} has the file_path {file_path!r} {problem}.",
                "unsupported_file_type",
            )
        )
    return problems


def _file_type_problem(path: PurePosixPath) -> str | None:
    """Why the file's type is not one a step runs as (``None``: it is)."""
    if path.name in ("", ".", ".."):
        return "which names no file"
    if path.suffix.lower() in SUPPORTED_EXTENSIONS:
        return None
    supported = ", ".join(sorted(e for e in SUPPORTED_EXTENSIONS if e))
    return (
        f"with the unsupported file type {path.suffix!r}; supported: {supported}, "
        "and files without an extension (run with bash, as in Orchest)"
    )


def _escapes(path: PurePosixPath) -> bool:
    """Whether normalising ``..`` ever climbs above the root the path starts from."""
    depth = 0
    for part in path.parts:
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part != ".":
            depth += 1
    return False


def _connection_problems(definition: PipelineDefinition, key: str) -> Iterator[Problem]:
    steps = definition.steps
    name = step_name(definition, key)
    first_seen: dict[str, int] = {}
    for index, parent in enumerate(steps[key].incoming_connections):
        loc = (*_STEPS_LOC, key, "incoming_connections", index)
        if parent not in steps:
            yield Problem(
                loc,
                f"Step {name} has an incoming connection from {parent!r}, "
                "which is not a step of this pipeline.",
                "unknown_step",
            )
        if parent in first_seen:
            yield Problem(
                loc,
                f"Step {name} lists the incoming connection {parent!r} twice "
                f"(at positions {first_seen[parent]} and {index}).",
                "duplicate_connection",
            )
        else:
            first_seen[parent] = index


def _duplicate_uuid_problems(definition: PipelineDefinition) -> Iterator[Problem]:
    keys_by_uuid: dict[str, list[str]] = {}
    for key in sorted(definition.steps):
        keys_by_uuid.setdefault(definition.steps[key].uuid, []).append(key)
    sharing = {uuid: keys for uuid, keys in keys_by_uuid.items() if len(keys) > 1}
    for key in sorted(definition.steps):
        keys = sharing.get(definition.steps[key].uuid)
        if keys is None:
            continue
        others = ", ".join(step_name(definition, other) for other in keys if other != key)
        yield Problem(
            (*_STEPS_LOC, key, "uuid"),
            f"Step {step_name(definition, key)} has the uuid {definition.steps[key].uuid!r}, "
            f"which step {others} also has; uuids must be unique.",
            "duplicate_uuid",
        )


def _cycle_problems(definition: PipelineDefinition) -> list[Problem]:
    """One problem per strongly connected component of several steps, one per self-loop."""
    parents = parents_map(definition)
    successors = {
        key: tuple(sorted(children)) for key, children in sorted(children_map(parents).items())
    }
    found: list[tuple[str, int, Problem]] = []
    for component in strongly_connected_components(successors):
        if len(component) < 2:
            continue
        members = set(component)
        start = min(component)
        cycle = _shortest_cycle(successors, members, start)
        msg = "The pipeline has a cycle: " + " -> ".join(
            step_name(definition, key) for key in cycle
        )
        rest = sorted(members - set(cycle))
        if rest:
            msg += "; these steps are caught in the same cycles: " + ", ".join(
                step_name(definition, key) for key in rest
            )
        found.append((start, 0, Problem((*_STEPS_LOC, start), msg + ".", "cycle")))
    for key, own_parents in parents.items():
        if key in own_parents:
            name = step_name(definition, key)
            msg = f"Step {name} is its own incoming connection: {name} -> {name}."
            found.append((key, 1, Problem((*_STEPS_LOC, key), msg, "cycle")))
    return [problem for _, _, problem in sorted(found, key=lambda item: item[:2])]


def _shortest_cycle(
    successors: Mapping[str, Sequence[str]], members: set[str], start: str
) -> list[str]:
    """The shortest cycle through ``start`` inside one component, ignoring self-loops:
    ``[start, ..., start]``."""
    previous: dict[str, str] = {start: start}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in successors[node]:
            if child == node or child not in members:
                continue
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return [*reversed(path), start]
            if child not in previous:
                previous[child] = node
                queue.append(child)
    raise ValueError(f"no cycle through {start!r}")  # pragma: no cover - components cycle


def strongly_connected_components(successors: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Tarjan's algorithm without recursion; edges to nodes outside the mapping are ignored."""
    index: dict[str, int] = {}
    lowlink: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> Iterator[str]:
        index[node] = lowlink[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        return iter(successors[node])

    for root in successors:
        if root in index:
            continue
        work = [(root, visit(root))]
        while work:
            node, children = work[-1]
            for child in children:
                if child not in successors:
                    continue
                if child not in index:
                    work.append((child, visit(child)))
                    break
                if child in on_stack:
                    lowlink[node] = min(lowlink[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    lowlink[parent] = min(lowlink[parent], lowlink[node])
                if lowlink[node] == index[node]:
                    component: list[str] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(component)
    return components


# Graph walks --------------------------------------------------------------


def parents_map(definition: PipelineDefinition) -> dict[str, tuple[str, ...]]:
    """Each step -> its parents, in ``incoming_connections`` order, without unknown
    steps or repeats."""
    steps = definition.steps
    return {
        key: tuple(dict.fromkeys(p for p in step.incoming_connections if p in steps))
        for key, step in steps.items()
    }


def children_map(parents: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
    """Each node -> its children, in the order of ``parents``; every node is a key."""
    children: dict[str, list[str]] = {node: [] for node in parents}
    for node, node_parents in parents.items():
        for parent in dict.fromkeys(node_parents):
            children.setdefault(parent, []).append(node)
    return {node: tuple(kids) for node, kids in children.items()}


def ancestors(parents: Mapping[str, Sequence[str]], roots: Iterable[str]) -> set[str]:
    """Every node some root depends on, directly or not (a root only if it is an
    ancestor of a root, or on a cycle)."""
    return _reachable(parents, roots)


def descendants(children: Mapping[str, Sequence[str]], roots: Iterable[str]) -> set[str]:
    """Every node that depends on some root, directly or not."""
    return _reachable(children, roots)


def _reachable(edges: Mapping[str, Sequence[str]], roots: Iterable[str]) -> set[str]:
    seen: set[str] = set()
    pending = [node for root in roots for node in edges.get(root, ())]
    while pending:
        node = pending.pop()
        if node not in seen:
            seen.add(node)
            pending.extend(edges.get(node, ()))
    return seen


def topological_order(parents: Mapping[str, Sequence[str]]) -> list[str]:
    """Parents before children; among nodes ready together, the mapping's order first.

    Raises ValueError on a cycle or on a parent that is not a key of the mapping."""
    position = {node: i for i, node in enumerate(parents)}
    waiting: dict[str, int] = {}
    children: dict[str, list[str]] = {node: [] for node in parents}
    for node, node_parents in parents.items():
        distinct = set(node_parents)
        unknown = [parent for parent in distinct if parent not in position]
        if unknown:
            raise ValueError(f"{node!r} has parents that are not nodes: {sorted(unknown)}")
        waiting[node] = len(distinct)
        for parent in distinct:
            children[parent].append(node)
    ready = [position[node] for node, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    nodes = list(parents)
    order: list[str] = []
    while ready:
        node = nodes[heapq.heappop(ready)]
        order.append(node)
        for child in children[node]:
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(ready, position[child])
    if len(order) < len(nodes):
        stuck = sorted(node for node, count in waiting.items() if count > 0)
        raise ValueError(f"the graph has a cycle among {stuck}")
    return order


# Partial runs -------------------------------------------------------------

_SELECTING_RUN_TYPES = frozenset(
    {RunType.SELECTION, RunType.INCOMING, RunType.SELECTION_WITH_ANCESTORS, RunType.DOWNSTREAM}
)


def select_steps(
    definition: PipelineDefinition, run_type: RunType, uuids: Sequence[str]
) -> tuple[list[str], list[Problem]]:
    """The steps a run of ``run_type`` executes, in topological order (ties in the
    definition's step order), or the problems of the request.

    The definition must have no cycle (``validate_definition`` first): ValueError
    otherwise. ``rerun_failed`` is the caller's to resolve."""
    steps = definition.steps
    if run_type == RunType.FULL:
        chosen = set(steps)
    elif run_type in _SELECTING_RUN_TYPES:
        problems = [
            Problem(("uuids", i), f"{uuid!r} is not a step of this pipeline.", "unknown_step")
            for i, uuid in enumerate(uuids)
            if uuid not in steps
        ]
        if not uuids:
            problems.append(
                Problem(
                    ("uuids",), f"A {str(run_type)!r} run needs selected steps.", "empty_selection"
                )
            )
        if problems:
            return [], problems
        chosen = _chosen(parents_map(definition), RunType(run_type), set(uuids))
    else:
        return [], [
            Problem(
                ("run_type",),
                f"Run type {str(run_type)!r} cannot be selected from a definition alone.",
                "unsupported_run_type",
            )
        ]
    if not chosen:
        if run_type == RunType.FULL:
            problem = Problem(_STEPS_LOC, "The pipeline has no step to run.", "nothing_to_run")
        else:
            problem = Problem(
                ("uuids",),
                f"A {str(run_type)!r} run of this selection has no step to run.",
                "nothing_to_run",
            )
        return [], [problem]
    order = topological_order(parents_map(definition))
    return [key for key in order if key in chosen], []


def _chosen(
    parents: Mapping[str, Sequence[str]], run_type: RunType, selected: set[str]
) -> set[str]:
    if run_type == RunType.SELECTION:
        return selected
    if run_type == RunType.INCOMING:
        return ancestors(parents, selected) - selected
    if run_type == RunType.SELECTION_WITH_ANCESTORS:
        return ancestors(parents, selected) | selected
    return descendants(children_map(parents), selected) | selected


def run_parents(
    definition: PipelineDefinition, step_uuids: Sequence[str]
) -> dict[str, tuple[str, ...]]:
    """The DAG of a run: each run step -> its parents that run too (KeyError for a
    uuid that is not a step)."""
    running = set(step_uuids)
    parents = parents_map(definition)
    return {
        key: tuple(parent for parent in parents[key] if parent in running)
        for key in dict.fromkeys(step_uuids)
    }
