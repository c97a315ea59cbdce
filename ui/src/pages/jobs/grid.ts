// The parameter grid of a new job (pure): a list of values per pipeline and
// step parameter, expanded to every combination (the runs of one execution),
// rows deselectable. The expansion is the CLI's `--param-grid`: in the grid's
// order, the last parameter varying fastest.
import type { PipelineDefinition } from "../../api/types";

export const PIPELINE = "pipeline_parameters";
export const MAX_RUNS = 10_000; // the API's limit of parameter sets

export type ParameterSet = Record<string, Record<string, unknown>>;

export interface GridParam {
  /** `pipeline_parameters` or the step's uuid (the parameter set's key). */
  scope: string;
  /** "Pipeline" or the step's title. */
  scopeLabel: string;
  name: string;
  /** Each value as JSON text (as typed). */
  values: string[];
}

export interface GridRow {
  /** The set as canonical JSON: the same set keeps its key when the grid changes. */
  key: string;
  set: ParameterSet;
  /** `[scope label, name, value text]` of each parameter, in the grid's order. */
  cells: [string, string, string][];
}

const text = (value: unknown) => JSON.stringify(value);

/** One parameter per pipeline and step parameter, its one value the definition's. */
export function gridFromDefinition(definition: PipelineDefinition): GridParam[] {
  const params: GridParam[] = Object.entries(definition.parameters ?? {}).map(([name, value]) => ({
    scope: PIPELINE,
    scopeLabel: "Pipeline",
    name,
    values: [text(value)],
  }));
  for (const [uuid, step] of Object.entries(definition.steps ?? {})) {
    for (const [name, value] of Object.entries(step.parameters ?? {})) {
      params.push({ scope: uuid, scopeLabel: step.title || uuid, name, values: [text(value)] });
    }
  }
  return params;
}

export type Parsed = { ok: true; value: unknown } | { ok: false; error: string };

export function parseValue(raw: string): Parsed {
  const trimmed = raw.trim();
  if (trimmed === "") return { ok: false, error: "empty: give a JSON value" };
  try {
    return { ok: true, value: JSON.parse(trimmed) as unknown };
  } catch {
    const hint = /^[A-Za-z_]/.test(trimmed) && !["true", "false", "null"].includes(trimmed) ? ` (a string: "${trimmed}")` : "";
    return { ok: false, error: `not a JSON value${hint}` };
  }
}

export interface ValueProblem {
  param: number;
  value: number;
  error: string;
}

/** What is wrong with the grid's values: not JSON, or a value given twice. */
export function gridProblems(grid: GridParam[]): ValueProblem[] {
  const problems: ValueProblem[] = [];
  grid.forEach((p, param) => {
    const seen = new Set<string>();
    p.values.forEach((raw, value) => {
      const parsed = parseValue(raw);
      if (!parsed.ok) problems.push({ param, value, error: parsed.error });
      else if (seen.has(text(parsed.value))) problems.push({ param, value, error: "given twice" });
      else seen.add(text(parsed.value));
    });
  });
  return problems;
}

/** How many runs the grid makes per execution (before deselection). */
export function combinations(grid: GridParam[]): number {
  return grid.reduce((n, p) => n * p.values.length, 1);
}

/** Every combination, in the grid's order, the last parameter varying fastest;
 * [] when a value is not valid or there are more than MAX_RUNS. */
export function expandGrid(grid: GridParam[]): GridRow[] {
  if (gridProblems(grid).length > 0 || combinations(grid) > MAX_RUNS) return [];
  const parsed = grid.map((p) => p.values.map((v) => (parseValue(v) as { value: unknown }).value));
  let rows: { set: ParameterSet; cells: GridRow["cells"] }[] = [{ set: {}, cells: [] }];
  grid.forEach((p, i) => {
    const next: typeof rows = [];
    for (const row of rows) {
      for (const value of parsed[i] as unknown[]) {
        const scope = { ...(row.set[p.scope] ?? {}), [p.name]: value };
        next.push({ set: { ...row.set, [p.scope]: scope }, cells: [...row.cells, [p.scopeLabel, p.name, text(value)]] });
      }
    }
    rows = next;
  });
  return rows.map((r) => ({ ...r, key: text(r.set) }));
}

/** The parameter sets to send: the rows not deselected, in their order. */
export function selectedSets(rows: GridRow[], deselected: ReadonlySet<string>): ParameterSet[] {
  return rows.filter((r) => !deselected.has(r.key)).map((r) => r.set);
}

/** `deselected` toggled for `key`. */
export function toggleRow(deselected: ReadonlySet<string>, key: string): Set<string> {
  const next = new Set(deselected);
  if (next.has(key)) next.delete(key);
  else next.add(key);
  return next;
}

/** "seed=7 · Train test_fraction=0.2": a run's parameters, shortly. */
export function describeSet(set: Record<string, Record<string, unknown>> | null | undefined, titles: Record<string, string> = {}): string {
  if (!set) return "";
  return Object.entries(set)
    .flatMap(([scope, values]) =>
      Object.entries(values ?? {}).map(([name, value]) =>
        scope === PIPELINE ? `${name}=${text(value)}` : `${titles[scope] ?? scope.slice(0, 8)} ${name}=${text(value)}`,
      ),
    )
    .join(" · ");
}
