// The schedule part of the new-job form (pure): now, once at a local time
// (sent with its UTC offset, so the server never guesses a zone), or a cron
// expression (five fields, UTC; its next firing times come from the server).
import type { components } from "../../api/schema";

export type JobSchedule = components["schemas"]["JobSchedule"];
export type ScheduleKind = "now" | "at" | "cron";

export interface ScheduleForm {
  kind: ScheduleKind;
  /** An `<input type="datetime-local">` value: `2026-03-01T09:30`. */
  at: string;
  cron: string;
}

export const INITIAL_SCHEDULE: ScheduleForm = { kind: "now", at: "", cron: "0 * * * *" };

const pad = (n: number) => String(Math.trunc(Math.abs(n))).padStart(2, "0");

/** `+01:00` for an offset of 60 minutes east of UTC. */
export function offsetText(minutesEast: number): string {
  return `${minutesEast < 0 ? "-" : "+"}${pad(minutesEast / 60)}:${pad(minutesEast % 60)}`;
}

/** The browser's offset east of UTC at the local time `local` (DST-aware). */
export function localOffset(local: string): number {
  const when = new Date(local);
  return Number.isNaN(when.getTime()) ? 0 : -when.getTimezoneOffset();
}

/** `2026-03-01T09:30` at `minutesEast` -> `2026-03-01T09:30:00+01:00`; null if not a time. */
export function atWithOffset(local: string, minutesEast: number): string | null {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(local.trim());
  if (!m) return null;
  return `${m[1]}T${m[2]}:${m[3]}:${m[4] ?? "00"}${offsetText(minutesEast)}`;
}

/** Why the cron text cannot be sent as is (a quick check; the server has the last word). */
export function cronShapeProblem(cron: string): string | null {
  const fields = cron.trim().split(/\s+/).filter(Boolean);
  if (fields.length !== 5) return `five fields (minute hour day-of-month month day-of-week), not ${fields.length}`;
  return null;
}

export type ScheduleResult = { schedule: JobSchedule; problem: null } | { schedule: null; problem: string };

/** The `schedule` of `CreateJob` the form stands for, or why it cannot be sent. */
export function scheduleBody(form: ScheduleForm, minutesEast: number): ScheduleResult {
  if (form.kind === "now") return { schedule: {}, problem: null };
  if (form.kind === "cron") {
    const problem = cronShapeProblem(form.cron);
    return problem ? { schedule: null, problem } : { schedule: { cron_schedule: form.cron.trim().replace(/\s+/g, " ") }, problem: null };
  }
  const at = atWithOffset(form.at, minutesEast);
  return at ? { schedule: { scheduled_start: at }, problem: null } : { schedule: null, problem: "pick a date and a time" };
}

/** The cron expression to preview, or null when there is nothing worth asking about. */
export function previewable(form: ScheduleForm): string | null {
  return form.kind === "cron" && cronShapeProblem(form.cron) === null ? form.cron.trim().replace(/\s+/g, " ") : null;
}

/** The browser's zone, e.g. "Europe/Brussels (UTC+01:00)". */
export function zoneLabel(zone: string, minutesEast: number): string {
  return `${zone} (UTC${offsetText(minutesEast)})`;
}
