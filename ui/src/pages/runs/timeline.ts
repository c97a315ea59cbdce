// The geometry of a run's timeline (pure): a row per step, a bar per
// attempt from its start to its end (or to now while it runs), placed on
// one time axis for the whole run, in percent of the axis.
import type { StepAttempt, StepView } from "../../api/types";
import { formatDuration } from "../../components/time";

export interface Bar {
  attempt: number;
  status: string;
  left: number;
  width: number;
  start: string;
  end: string | null;
  /** Milliseconds from its start to its end (or now). */
  duration: number;
  exit_code: number | null;
  error: string | null;
}

export interface Row {
  step_uuid: string;
  title: string;
  bars: Bar[];
}

export interface Tick {
  left: number;
  label: string;
}

export interface Geometry {
  rows: Row[];
  ticks: Tick[];
  /** Whether a bar grows with the clock (an attempt runs). */
  live: boolean;
}

/** The narrowest bar drawn (percent), so an instant attempt stays visible. */
export const MIN_WIDTH = 0.6;

type Step = Pick<StepView, "step_uuid" | "title" | "file_path" | "status" | "attempt" | "started_time" | "finished_time" | "exit_code" | "error">;

/** The attempts to draw for `step`: those read, else its latest (the step's row). */
function attemptsFor(step: Step, attempts: readonly StepAttempt[]): StepAttempt[] {
  const own = attempts.filter((a) => a.step_uuid === step.step_uuid).sort((x, y) => x.attempt - y.attempt);
  if (own.some((a) => a.attempt === step.attempt) || step.attempt < 1) return own;
  // The step moved on before the attempts were read again: its latest comes from its row.
  return [...own, { ...step, attempt: step.attempt, artifacts: [] }];
}

export function timelineGeometry(steps: readonly Step[], attempts: readonly StepAttempt[], now: number): Geometry | null {
  const perStep = steps.map((s) => ({ step: s, attempts: attemptsFor(s, attempts).filter((a) => a.started_time) }));
  const started = perStep.flatMap((p) => p.attempts.map((a) => Date.parse(a.started_time as string)));
  if (started.length === 0) return null;
  const live = perStep.some((p) => p.attempts.some((a) => !a.finished_time));
  const ends = perStep.flatMap((p) => p.attempts.map((a) => (a.finished_time ? Date.parse(a.finished_time) : now)));
  const t0 = Math.min(...started);
  const t1 = Math.max(...ends, ...(live ? [now] : []));
  const span = Math.max(1, t1 - t0);
  const pct = (t: number) => (100 * (t - t0)) / span;
  const rows = perStep.map(({ step, attempts: mine }) => ({
    step_uuid: step.step_uuid,
    title: step.title || step.file_path,
    bars: mine.map((a) => {
      const start = Date.parse(a.started_time as string);
      const end = a.finished_time ? Date.parse(a.finished_time) : Math.max(now, start);
      const left = Math.min(pct(start), 100 - MIN_WIDTH);
      return {
        attempt: a.attempt,
        status: a.status,
        left,
        width: Math.min(Math.max(MIN_WIDTH, pct(end) - pct(start)), 100 - left),
        start: a.started_time as string,
        end: a.finished_time ?? null,
        duration: end - start,
        exit_code: a.exit_code ?? null,
        error: a.error ?? null,
      };
    }),
  }));
  return { rows, ticks: ticksOf(span), live };
}

/** About five ticks at round steps of the run's span, labelled from its start. */
export function ticksOf(span: number): Tick[] {
  const rounds = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400].map((s) => s * 1000);
  const step = rounds.find((r) => span / r <= 5) ?? rounds[rounds.length - 1]!;
  const ticks: Tick[] = [];
  for (let t = 0; t <= span; t += step) ticks.push({ left: (100 * t) / span, label: `+${formatDuration(t)}` });
  return ticks;
}
