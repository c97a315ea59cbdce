// The editor's changes to a pipeline definition, as pure functions: each
// returns a new definition (the one given when nothing changes), written the
// way Orchest writes its pipeline files, so the saved file is one Orchest
// would write.
import type { PipelineDefinition, PipelineStep } from "../../../api/types";

export type Definition = PipelineDefinition;
export type Step = PipelineStep;
export type Point = { x: number; y: number };

/** The kernels a step can name without a stack listing them: Orchest's two. */
export const KNOWN_KERNELS: readonly { name: string; display_name: string }[] = [
  { name: "python", display_name: "Python 3" },
  { name: "ir", display_name: "R" },
];

export function kernelOf(name: string): { name: string; display_name: string } {
  return KNOWN_KERNELS.find((k) => k.name === name) ?? { name, display_name: name };
}

/** A step as Orchest writes one: every field present. */
export function newStep(uuid: string, filePath: string, title: string, kernel: string, at: Point): Step {
  return {
    uuid,
    title,
    file_path: filePath,
    incoming_connections: [],
    environment: "",
    kernel: kernelOf(kernel),
    parameters: {},
    meta_data: { hidden: false, position: [Math.round(at.x), Math.round(at.y)] },
  };
}

/** The title a new step gets from its file: the name without folder and extension. */
export function titleOf(filePath: string): string {
  const name = filePath.split("/").pop() ?? filePath;
  const dot = name.lastIndexOf(".");
  return dot > 0 ? name.slice(0, dot) : name;
}

const stepsOf = (d: Definition): Record<string, Step> => d.steps ?? {};

function withSteps(d: Definition, steps: Record<string, Step>): Definition {
  return { ...d, steps };
}

export function addStep(d: Definition, step: Step): Definition {
  return withSteps(d, { ...stepsOf(d), [step.uuid]: step });
}

/** Removes the steps and every connection to them. */
export function removeSteps(d: Definition, uuids: Iterable<string>): Definition {
  const gone = new Set(uuids);
  const steps = stepsOf(d);
  if (![...gone].some((u) => u in steps)) return d;
  const kept: Record<string, Step> = {};
  for (const [uuid, step] of Object.entries(steps)) {
    if (gone.has(uuid)) continue;
    const incoming = step.incoming_connections ?? [];
    kept[uuid] = incoming.some((p) => gone.has(p))
      ? { ...step, incoming_connections: incoming.filter((p) => !gone.has(p)) }
      : step;
  }
  return withSteps(d, kept);
}

/** `from` -> `to`; unchanged for a self-loop, an unknown step or an existing
 * connection. A cycle through other steps is allowed: the server names it. */
export function connect(d: Definition, from: string, to: string): Definition {
  const steps = stepsOf(d);
  const target = steps[to];
  if (from === to || !target || !(from in steps)) return d;
  const incoming = target.incoming_connections ?? [];
  if (incoming.includes(from)) return d;
  return withSteps(d, { ...steps, [to]: { ...target, incoming_connections: [...incoming, from] } });
}

export function disconnect(d: Definition, from: string, to: string): Definition {
  const steps = stepsOf(d);
  const target = steps[to];
  const incoming = target?.incoming_connections ?? [];
  if (!target || !incoming.includes(from)) return d;
  return withSteps(d, { ...steps, [to]: { ...target, incoming_connections: incoming.filter((p) => p !== from) } });
}

/** Each step's `meta_data.position`, rounded to whole pixels as Orchest keeps them. */
export function moveSteps(d: Definition, positions: ReadonlyMap<string, Point>): Definition {
  const steps = stepsOf(d);
  let changed = false;
  const next = { ...steps };
  for (const [uuid, p] of positions) {
    const step = steps[uuid];
    if (!step) continue;
    const position = [Math.round(p.x), Math.round(p.y)];
    const was = step.meta_data?.position ?? [];
    if (was[0] === position[0] && was[1] === position[1]) continue;
    next[uuid] = { ...step, meta_data: { hidden: false, ...step.meta_data, position } };
    changed = true;
  }
  return changed ? withSteps(d, next) : d;
}

/** Changes some of a step's fields. */
export function setStep(d: Definition, uuid: string, patch: Partial<Step>): Definition {
  const step = stepsOf(d)[uuid];
  if (!step) return d;
  return withSteps(d, { ...stepsOf(d), [uuid]: { ...step, ...patch } });
}

/** Changes the pipeline's own fields (name, parameters, settings). */
export function setPipeline(d: Definition, patch: Partial<Pick<Definition, "name" | "parameters" | "settings">>): Definition {
  return { ...d, ...patch };
}

/** Every connection as [from, to], in definition order. */
export function connections(d: Definition): [string, string][] {
  return Object.entries(stepsOf(d)).flatMap(([uuid, step]) =>
    (step.incoming_connections ?? []).map((p): [string, string] => [p, uuid]),
  );
}

/** Where a new step goes: right of the rightmost step, level with the first. */
export function placeForNew(d: Definition): Point {
  const points = Object.values(stepsOf(d)).map((s) => s.meta_data?.position ?? []);
  if (points.length === 0) return { x: 0, y: 0 };
  const xs = points.map((p) => Number(p[0] ?? 0));
  const ys = points.map((p) => Number(p[1] ?? 0));
  return { x: Math.max(...xs) + 300, y: Math.min(...ys) };
}
