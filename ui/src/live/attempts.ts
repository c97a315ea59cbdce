// Step events applied to a run's attempts (GET /api/runs/{run}/attempts),
// pure, as the gateway folds them from the event log (orchest_gateway
// attempts.py): PENDING makes an attempt, STARTED starts it, an end ends
// it; an attempt still unfinished when a later attempt of its step moves
// lost its runner. A duplicate changes nothing; a late event only fills in
// what is missing (a STARTED after its end gives the start time).
import type { AttemptList, StepAttempt, StepStatusChanged } from "../api/types";
import { ENDED, rank } from "./order";

export const LOST = "lost its runner";

/** An attempt closed here because a later one moved (its own end may still come). */
export type LiveAttempt = StepAttempt & { lost?: boolean };
export type LiveAttempts = Omit<AttemptList, "attempts"> & { attempts: LiveAttempt[] };

export function applyAttemptEvent<L extends LiveAttempts>(list: L, event: StepStatusChanged): L {
  if (list.run_uuid !== event.run_uuid || event.attempt < 1) return list;
  const at = event.occurred_at ?? null;
  let changed = false;
  let found = false;
  const attempts = list.attempts.map((a) => {
    if (a.step_uuid !== event.step_uuid) return a;
    let next = a;
    if (a.attempt === event.attempt) {
      found = true;
      next = moved(a, event, at);
    } else if (a.attempt < event.attempt && !ENDED.has(a.status)) {
      next = { ...a, status: "FAILURE", finished_time: a.started_time ? at : null, error: event.error ?? LOST, lost: true };
    }
    changed ||= next !== a;
    return next;
  });
  if (!found) {
    const fresh: LiveAttempt = { step_uuid: event.step_uuid, attempt: event.attempt, status: "PENDING", started_time: null, finished_time: null, exit_code: null, error: null, artifacts: [] };
    attempts.push(moved(fresh, event, at));
    changed = true;
  }
  return changed ? { ...list, attempts } : list;
}

function moved(a: LiveAttempt, event: StepStatusChanged, at: string | null): LiveAttempt {
  if (event.status === "STARTED") {
    if (rank(a.status) < rank("STARTED")) return { ...a, status: "STARTED", started_time: at };
    return a.started_time ? a : { ...a, started_time: at }; // it ended before we heard it start
  }
  if (!ENDED.has(event.status)) return a;
  if (ENDED.has(a.status) && !a.lost) return a; // a duplicate
  return {
    ...a,
    status: event.status,
    finished_time: at,
    exit_code: event.exit_code ?? null,
    error: event.error ?? null,
    artifacts: event.artifacts,
    lost: false,
  };
}

/** The attempts of one step, oldest first. */
export function attemptsOf(list: LiveAttempts | undefined, step: string): LiveAttempt[] {
  return (list?.attempts ?? []).filter((a) => a.step_uuid === step).sort((x, y) => x.attempt - y.attempt);
}
