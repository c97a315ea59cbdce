// Run and step events applied to a run and to pages of runs (pure).
import type { RunList, RunStatusChanged, RunView, StepStatusChanged, StepView } from "../api/types";
import { applyToMatching, ENDED, isNewer, type Sequenced } from "./order";

export type LiveStep = StepView & Sequenced;
export type LiveRun = Omit<RunView, "pipeline_steps"> & Sequenced & { pipeline_steps: LiveStep[] };
export type RunEvent = RunStatusChanged | StepStatusChanged;

export function applyStepEvent(step: LiveStep, event: StepStatusChanged): LiveStep {
  if (step.step_uuid !== event.step_uuid || !isNewer(step, event)) return step;
  const at = event.occurred_at ?? null;
  const next: LiveStep = {
    ...step,
    status: event.status,
    attempt: event.attempt,
    exit_code: event.exit_code,
    error: event.error,
    live_sequence: event.sequence > 0 ? event.sequence : step.live_sequence,
  };
  if (event.artifacts.length > 0) next.artifacts = event.artifacts;
  if (event.status === "PENDING") {
    next.started_time = null;
    next.finished_time = null;
  } else if (event.status === "STARTED") {
    next.started_time = event.attempt !== step.attempt || !step.started_time ? at : step.started_time;
    next.finished_time = null;
  } else if (ENDED.has(event.status)) {
    next.finished_time = at;
  }
  return next;
}

/** `applyEvent(run, event) -> run`: the same object when the event changes nothing. */
export function applyRunEvent<R extends LiveRun>(run: R, event: RunEvent): R {
  if (run.uuid !== event.run_uuid) return run;
  if (event.kind === "step_status_changed") {
    let changed = false;
    const steps = run.pipeline_steps.map((step) => {
      const next = applyStepEvent(step, event);
      changed ||= next !== step;
      return next;
    });
    return changed ? { ...run, pipeline_steps: steps } : run;
  }
  if (!isNewer(run, event)) return run;
  const at = event.occurred_at ?? null;
  return {
    ...run,
    status: event.status,
    live_sequence: event.sequence > 0 ? event.sequence : run.live_sequence,
    started_time: event.status === "STARTED" && !run.started_time ? at : run.started_time,
    finished_time: ENDED.has(event.status) ? at : run.finished_time,
  };
}

/** A page of runs with the event applied; `known` is false when the event
 * names a run the page lacks (a new run: the page should be read again). */
export function applyRunListEvent(list: RunList, event: RunEvent): { list: RunList; known: boolean } {
  const { items, known, changed } = applyToMatching(
    list.runs,
    (run) => run.uuid === event.run_uuid,
    (run) => applyRunEvent(run as LiveRun, event) as RunView,
  );
  return { list: changed ? { ...list, runs: items } : list, known };
}

export interface Progress {
  total: number;
  succeeded: number;
  failed: number;
  running: number;
  ended: number;
}

export function progressOf(run: Pick<RunView, "pipeline_steps">): Progress {
  const p: Progress = { total: run.pipeline_steps.length, succeeded: 0, failed: 0, running: 0, ended: 0 };
  for (const step of run.pipeline_steps) {
    if (step.status === "SUCCESS") p.succeeded++;
    else if (step.status === "FAILURE" || step.status === "ABORTED") p.failed++;
    else if (step.status === "STARTED") p.running++;
    if (ENDED.has(step.status)) p.ended++;
  }
  return p;
}
