// The server's problems of a pipeline (`loc` in the file: ["steps", uuid,
// ...]) placed on the steps and connections they are about. A cycle is
// reported once, at one of its steps: every step and connection of that
// cycle (its strongly connected component) is marked. Pure.
import type { ErrorDetail } from "../../../api/types";
import { connections, type Definition } from "./model";

export interface Marks {
  /** Each message without the uuids it names steps by (their titles stay). */
  steps: Map<string, string[]>;
  /** By connection id, `${from}->${to}`. */
  edges: Map<string, string[]>;
  /** A few words for each marked step and connection, to draw on the canvas. */
  short: Map<string, string>;
  /** Problems of the pipeline itself (its name, settings...). */
  pipeline: string[];
}

const SHORT: Record<string, string> = {
  cycle: "in a cycle",
  file_missing: "file missing",
  not_a_file: "not a file",
  empty_file_path: "no file",
  absolute_path: "absolute path",
  path_escape: "outside the project",
};

/** A message of the server without the step uuids beside the titles. */
export function readable(msg: string): string {
  return msg.replace(/ \((?:'|")?[0-9a-f-]{8,}(?:'|")?\)/g, "");
}

export const edgeId = (from: string, to: string) => `${from}->${to}`;

function add(map: Map<string, string[]>, key: string, msg: string): void {
  const list = map.get(key) ?? [];
  if (!list.includes(msg)) list.push(msg);
  map.set(key, list);
}

/** The strongly connected components (Tarjan) of the connections, by step. */
export function componentOf(d: Definition): Map<string, number> {
  const children = new Map<string, string[]>();
  for (const uuid of Object.keys(d.steps ?? {})) children.set(uuid, []);
  for (const [from, to] of connections(d)) children.get(from)?.push(to);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const component = new Map<string, number>();
  let counter = 0;
  let components = 0;
  const visit = (v: string) => {
    index.set(v, counter);
    low.set(v, counter);
    counter++;
    stack.push(v);
    onStack.add(v);
    for (const w of children.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
      }
    }
    if (low.get(v) === index.get(v)) {
      let w: string;
      do {
        w = stack.pop() as string;
        onStack.delete(w);
        component.set(w, components);
      } while (w !== v);
      components++;
    }
  };
  for (const v of children.keys()) if (!index.has(v)) visit(v);
  return component;
}

export function markProblems(d: Definition, problems: readonly ErrorDetail[]): Marks {
  const marks: Marks = { steps: new Map(), edges: new Map(), short: new Map(), pipeline: [] };
  const steps = d.steps ?? {};
  let components: Map<string, number> | null = null;
  for (const problem of problems) {
    const p = { ...problem, msg: readable(problem.msg) };
    const word = SHORT[p.type ?? ""] ?? "invalid";
    const mark = (map: Map<string, string[]>, key: string) => {
      add(map, key, p.msg);
      if (!marks.short.has(key)) marks.short.set(key, word);
    };
    const loc = p.loc ?? [];
    const uuid = loc[0] === "steps" ? String(loc[1] ?? "") : "";
    const step = steps[uuid];
    if (!step && loc[0] === "steps" && uuid) continue; // a step no longer there (an edit not yet saved)
    if (!step) {
      marks.pipeline.push(loc.length > 0 ? `${loc.join(".")}: ${p.msg}` : p.msg);
      continue;
    }
    if (loc[2] === "incoming_connections" && typeof loc[3] === "number") {
      const from = step.incoming_connections?.[loc[3]];
      if (from !== undefined) mark(marks.edges, edgeId(from, uuid));
      mark(marks.steps, uuid);
      continue;
    }
    mark(marks.steps, uuid);
    if (p.type !== "cycle") continue;
    components ??= componentOf(d);
    const own = components.get(uuid);
    for (const [from, to] of connections(d)) {
      const inCycle = from === to ? from === uuid : components.get(from) === own && components.get(to) === own;
      if (!inCycle) continue;
      mark(marks.edges, edgeId(from, to));
      mark(marks.steps, from);
      mark(marks.steps, to);
    }
  }
  return marks;
}
