// Names for the generated API types (schema.d.ts, from the gateway's OpenAPI document).
import type { components } from "./schema";

type S = components["schemas"];
export type RunView = S["RunView"];
export type StepView = S["StepView"];
export type RunList = S["RunList"];
export type RunStatus = S["RunStatus"];
export type RunType = S["RunType"];
export type JobView = S["JobView"];
export type JobList = S["JobList"];
export type JobStatus = S["JobStatus"];
export type SessionView = S["SessionView"];
export type SessionList = S["SessionList"];
export type SessionStatus = S["SessionStatus"];
export type ProjectView = S["ProjectView"];
export type PipelineSummary = S["PipelineSummary"];
export type PipelineDocument = S["PipelineDocument"];
export type PipelineDefinition = S["PipelineDefinition"];
export type PipelineStep = S["PipelineStep"];
export type HealthReport = S["HealthReport"];
export type ErrorDetail = S["ErrorDetail"];

export type RunStatusChanged = S["RunStatusChanged"];
export type StepStatusChanged = S["StepStatusChanged"];
export type JobStatusChanged = S["JobStatusChanged"];
export type SessionStatusChanged = S["SessionStatusChanged"];
export type ProjectChanged = S["ProjectChanged"];
export type EnvironmentBuildChanged = S["EnvironmentBuildChanged"];
/** What `GET /api/events` streams (`event:` = the kind). */
export type BusEvent =
  | RunStatusChanged
  | StepStatusChanged
  | JobStatusChanged
  | SessionStatusChanged
  | ProjectChanged
  | EnvironmentBuildChanged;
export const EVENT_KINDS: readonly NonNullable<BusEvent["kind"]>[] = [
  "run_status_changed",
  "step_status_changed",
  "job_status_changed",
  "session_status_changed",
  "project_changed",
  "environment_build_changed",
];
export type StepAttempt = S["StepAttempt"];
export type AttemptList = S["AttemptList"];
export type EnvironmentView = S["EnvironmentView"];
export type EnvironmentList = S["EnvironmentList"];
export type BuildView = S["BuildView"];
export type BuildList = S["BuildList"];
export type BuildStatus = S["BuildStatus"];
