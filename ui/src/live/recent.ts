// The latest run and step events per run, replayed onto every read of a run.
//
// A read and the stream race: an event may arrive before the run is in the
// cache (the first step starts before POST /api/runs has answered), or while
// a read is in flight (the read's older snapshot would then replace what the
// event showed). Replaying the run's recent events onto each read closes
// both gaps; the reducers drop what the snapshot already shows, so a replay
// is harmless. Bounded: the latest MAX_RUNS runs, MAX_EVENTS events each.
import type { RunView } from "../api/types";
import { applyRunEvent, type LiveRun, type RunEvent } from "./runs";

const MAX_RUNS = 200;
const MAX_EVENTS = 2000;

export class RecentEvents {
  private readonly byRun = new Map<string, RunEvent[]>();

  add(event: RunEvent): void {
    let events = this.byRun.get(event.run_uuid);
    if (events === undefined) {
      events = [];
      this.byRun.set(event.run_uuid, events);
      if (this.byRun.size > MAX_RUNS) this.byRun.delete(this.byRun.keys().next().value as string);
    }
    events.push(event);
    if (events.length > MAX_EVENTS) events.splice(0, events.length - MAX_EVENTS);
  }

  /** The run's recent events, in their order. */
  eventsOf(run: string): RunEvent[] {
    return [...(this.byRun.get(run) ?? [])].sort((a, b) => a.sequence - b.sequence);
  }

  /** `run` (a fresh read) with the run's recent events applied, in their order. */
  replay<R extends RunView | LiveRun>(run: R): R {
    if (!this.byRun.has(run.uuid)) return run;
    return this.eventsOf(run.uuid).reduce((r, e) => applyRunEvent(r as LiveRun, e) as unknown as R, run);
  }
}

export const recentEvents = new RecentEvents();
