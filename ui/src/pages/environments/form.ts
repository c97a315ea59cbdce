// The environment forms' rules (pure): the body of `POST .../environments`,
// env variables as rows, the API's problems sorted to the fields they name,
// and which actions a build allows.
import { groupProblems } from "../../api/problems";
import type { components } from "../../api/schema";
import type { BuildStatus, BuildView, ErrorDetail } from "../../api/types";
import { envBody, type EnvRow } from "../jobs/form";

export type NewEnvironment = components["schemas"]["NewEnvironment"];

export type Language = NonNullable<NewEnvironment["language"]>;
export const LANGUAGES: readonly Language[] = ["python", "r", "julia", "javascript"];
export const DEFAULT_BASE_IMAGE = "orchest/base-kernel-py";

export interface EnvironmentInput {
  name: string;
  language: Language;
  baseImage: string;
  setupScript: string;
  env: EnvRow[];
}

export const EMPTY_INPUT: EnvironmentInput = {
  name: "",
  language: "python",
  baseImage: DEFAULT_BASE_IMAGE,
  setupScript: "#!/bin/bash\n",
  env: [],
};

export function environmentBody(input: EnvironmentInput): NewEnvironment {
  return {
    name: input.name.trim(),
    language: input.language,
    base_image: input.baseImage.trim(),
    setup_script: input.setupScript,
    env_variables: envBody(input.env),
  };
}

export function envRowsOf(vars: Record<string, string> | undefined): EnvRow[] {
  return Object.entries(vars ?? {}).map(([name, value]) => ({ name, value }));
}

export type Field = "name" | "language" | "base_image" | "setup_script" | "env" | "other";

const FIELDS: Record<string, Field> = {
  name: "name",
  language: "language",
  base_image: "base_image",
  setup_script: "setup_script",
  env_variables: "env",
};

/** Each problem the API listed under the field it names (a command's
 * problems name `spec.<field>`, a body's `<field>`). */
export const problemsByField = (errors: ErrorDetail[]) =>
  groupProblems(errors, (at): { field: Field; where: string } => {
    const loc = at.map(String).filter((part) => part !== "spec" && part !== "body");
    const field = FIELDS[loc[0] ?? ""] ?? "other";
    return { field, where: field === "env" && loc.length > 1 ? `${loc.slice(1).join(".")}: ` : "" };
  });

export const isGoing = (status: BuildStatus): boolean => status === "PENDING" || status === "STARTED";

/** Whether a build's venv is still on disk: a successful build whose venv
 * was pruned (an older one, not pinned or in use) has its `pruned_time` and
 * can no longer be used; null where there is nothing to say (an image
 * build, or one that did not succeed). */
export function diskNote(build: Pick<BuildView, "status" | "builder" | "pruned_time">): string | null {
  if (build.pruned_time) return "venv removed";
  if (build.status === "SUCCESS" && build.builder === "process") return "venv on disk";
  return null;
}
