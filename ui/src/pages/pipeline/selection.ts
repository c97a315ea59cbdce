// Which steps a run of each type executes, as the scheduler decides it
// (orchest_scheduler.dag.select_steps), so the view can highlight them
// before the run is started. Pure.
import type { PipelineDefinition, RunType } from "../../api/types";

export type Parents = ReadonlyMap<string, readonly string[]>;

export const RUN_TYPES: readonly { type: RunType; label: string; needsSelection: boolean }[] = [
  { type: "full", label: "Run all", needsSelection: false },
  { type: "selection", label: "Run selected", needsSelection: true },
  { type: "selection_with_ancestors", label: "Run selected with ancestors", needsSelection: true },
  { type: "incoming", label: "Run incoming", needsSelection: true },
  { type: "downstream", label: "Run downstream", needsSelection: true },
];

export function parentsOf(definition: PipelineDefinition): Map<string, string[]> {
  const parents = new Map<string, string[]>();
  for (const [uuid, step] of Object.entries(definition.steps ?? {})) {
    parents.set(uuid, [...(step.incoming_connections ?? [])]);
  }
  return parents;
}

function childrenOf(parents: Parents): Map<string, string[]> {
  const children = new Map<string, string[]>();
  for (const uuid of parents.keys()) children.set(uuid, []);
  for (const [uuid, ps] of parents) {
    for (const p of ps) children.get(p)?.push(uuid);
  }
  return children;
}

function reachable(edges: ReadonlyMap<string, readonly string[]>, roots: Iterable<string>): Set<string> {
  const seen = new Set<string>();
  const todo = [...roots];
  while (todo.length > 0) {
    const node = todo.pop() as string;
    for (const next of edges.get(node) ?? []) {
      if (!seen.has(next)) {
        seen.add(next);
        todo.push(next);
      }
    }
  }
  return seen;
}

/** The steps a `type` run of `selected` executes (empty when it needs a selection and has none). */
export function stepsToRun(parents: Parents, type: RunType, selected: ReadonlySet<string>): Set<string> {
  const chosen = new Set([...selected].filter((s) => parents.has(s)));
  if (type === "full") return new Set(parents.keys());
  if (chosen.size === 0) return new Set();
  if (type === "selection") return chosen;
  const ancestors = reachable(parents, chosen);
  if (type === "incoming") return new Set([...ancestors].filter((s) => !chosen.has(s)));
  if (type === "selection_with_ancestors") return new Set([...ancestors, ...chosen]);
  if (type === "downstream") return new Set([...reachable(childrenOf(parents), chosen), ...chosen]);
  return new Set();
}

/** Steps in an order where each comes after its parents (ties: definition order). */
export function topologicalOrder(parents: Parents): string[] {
  const order: string[] = [];
  const placed = new Set<string>();
  const keys = [...parents.keys()];
  let progress = true;
  while (order.length < keys.length && progress) {
    progress = false;
    for (const key of keys) {
      if (placed.has(key)) continue;
      if ((parents.get(key) ?? []).every((p) => placed.has(p) || !parents.has(p))) {
        order.push(key);
        placed.add(key);
        progress = true;
      }
    }
  }
  return order.concat(keys.filter((k) => !placed.has(k))); // a cycle: the rest as given
}
