// The new-job form's other rules (pure): env variables, retention, the body
// of `POST /api/jobs`, and the API's problems sorted to the fields they name.
import { groupProblems } from "../../api/problems";
import type { components } from "../../api/schema";
import type { ErrorDetail } from "../../api/types";
import type { ParameterSet } from "./grid";
import type { JobSchedule } from "./schedule";

export type CreateJob = components["schemas"]["CreateJob"];

export interface EnvRow {
  name: string;
  value: string;
}

/** Per row, what is wrong with its name (empty, not a variable name, given twice). */
export function envProblems(rows: EnvRow[]): (string | null)[] {
  const seen = new Set<string>();
  return rows.map(({ name }) => {
    if (name === "") return "a name is needed";
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) return "letters, digits and _, not first a digit";
    if (seen.has(name)) return "given twice";
    seen.add(name);
    return null;
  });
}

export function envBody(rows: EnvRow[]): Record<string, string> {
  return Object.fromEntries(rows.map((r) => [r.name, r.value]));
}

/** Retention: every run (-1) or the newest `keep`. */
export interface Retention {
  all: boolean;
  keep: number;
}

export function retentionValue(r: Retention): number {
  return r.all ? -1 : Math.max(0, Math.trunc(r.keep));
}

export interface JobInput {
  name: string;
  project: string;
  pipeline: string;
  sets: ParameterSet[];
  env: EnvRow[];
  schedule: JobSchedule;
  retention: Retention;
  draft: boolean;
}

export function jobBody(input: JobInput): CreateJob {
  return {
    name: input.name.trim(),
    project_uuid: input.project,
    pipeline_uuid: input.pipeline,
    parameters: input.sets,
    env_variables: envBody(input.env),
    schedule: input.schedule,
    max_retained_pipeline_runs: retentionValue(input.retention),
    draft: input.draft,
  };
}

export type Field = "pipeline" | "name" | "parameters" | "schedule" | "env" | "retention" | "other";

const FIELD_OF: Record<string, Field> = {
  project_uuid: "pipeline",
  pipeline_uuid: "pipeline",
  pipeline_definition: "pipeline",
  pipeline_run_spec: "pipeline",
  project_dir: "pipeline",
  name: "name",
  parameters: "parameters",
  schedule: "schedule",
  env_variables: "env",
  max_retained_pipeline_runs: "retention",
};

/** Each problem the API listed, as text, under the field it names. */
export const problemsByField = (errors: ErrorDetail[]) =>
  groupProblems(errors, (loc): { field: Field; where: string } => {
    const field = FIELD_OF[String(loc[0])] ?? "other";
    const row = field === "parameters" && typeof loc[1] === "number" ? loc[1] : null;
    return { field, where: row === null ? "" : `row ${row + 1}${loc.length > 2 ? ` (${loc.slice(2).join(".")})` : ""}: ` };
  });
