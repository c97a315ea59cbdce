// Whether an event is newer than what a cached object already shows.
//
// Run and step events carry `sequence`, their order among the run's events
// (the scheduler's event log), so a duplicate or an event overtaken by a
// later one is recognised exactly. A snapshot from the API has no sequence:
// there an event counts only if it moves the state forward (a later attempt,
// or a later state of the same attempt), so a late event never undoes what a
// fresher read showed.

const RANK: Record<string, number> = {
  PENDING: 0,
  LAUNCHING: 0,
  STARTED: 1,
  RUNNING: 1,
  STOPPING: 2,
  SUCCESS: 3,
  FAILURE: 3,
  ABORTED: 3,
  FAILED: 3,
  STOPPED: 3,
};

export const ENDED = new Set(["SUCCESS", "FAILURE", "ABORTED"]);

export function rank(status: string): number {
  return RANK[status] ?? 0;
}

export interface Sequenced {
  live_sequence?: number;
}

/** Whether an event with `sequence` (0: none) for `attempt`/`status` is
 * newer than the cached `current`. */
export function isNewer(
  current: Sequenced & { status: string; attempt?: number },
  event: { sequence: number; status: string; attempt?: number },
): boolean {
  if (current.live_sequence !== undefined && event.sequence > 0) {
    return event.sequence > current.live_sequence;
  }
  const was = current.attempt ?? 0;
  const now = event.attempt ?? was;
  if (now !== was) return now > was;
  return rank(event.status) > rank(current.status);
}

/** Events with no sequence (jobs, sessions): newer by the time they happened. */
export function happenedAfter(current: { live_at?: string }, occurredAt: string | undefined): boolean {
  if (current.live_at === undefined || occurredAt === undefined) return true;
  return Date.parse(occurredAt) >= Date.parse(current.live_at);
}

/** `items` with `apply` applied to those `isTarget` picks: the same array
 * when nothing changed; `known` says whether any was picked. */
export function applyToMatching<T>(
  items: T[],
  isTarget: (item: T) => boolean,
  apply: (item: T) => T,
): { items: T[]; known: boolean; changed: boolean } {
  let known = false;
  let changed = false;
  const next = items.map((item) => {
    if (!isTarget(item)) return item;
    known = true;
    const applied = apply(item);
    changed ||= applied !== item;
    return applied;
  });
  return { items: changed ? next : items, known, changed };
}
