// Job and session events applied to cached jobs and sessions (pure).
import type {
  JobList,
  JobStatusChanged,
  JobView,
  SessionList,
  SessionStatusChanged,
  SessionView,
} from "../api/types";
import { applyToMatching, happenedAfter } from "./order";

type Timed = { live_at?: string };
export type LiveJob = JobView & Timed;
export type LiveSession = SessionView & Timed;

export function applyJobEvent<J extends LiveJob>(job: J, event: JobStatusChanged): J {
  if (job.uuid !== event.job_uuid || !happenedAfter(job, event.occurred_at)) return job;
  if (job.status === event.status && job.next_scheduled_time === (event.next_scheduled_time ?? null)) {
    return job;
  }
  return {
    ...job,
    status: event.status,
    next_scheduled_time: event.next_scheduled_time ?? null,
    total_scheduled_executions: event.total_scheduled_executions ?? job.total_scheduled_executions,
    live_at: event.occurred_at,
  };
}

export function applyJobListEvent(list: JobList, event: JobStatusChanged): { list: JobList; known: boolean } {
  const { items, known, changed } = applyToMatching(
    list.jobs,
    (job) => job.uuid === event.job_uuid,
    (job) => applyJobEvent(job, event),
  );
  return { list: changed ? { ...list, jobs: items } : list, known };
}

/** A pipeline's session event applied to a page of sessions: to its newest
 * session there (a pipeline has one live session at a time). */
export function applySessionListEvent(
  list: SessionList,
  event: SessionStatusChanged,
): { list: SessionList; known: boolean } {
  const index = list.sessions.findIndex(
    (s) => s.project_uuid === event.project_uuid && s.pipeline_uuid === event.pipeline_uuid,
  );
  if (index < 0) return { list, known: false };
  const session = list.sessions[index] as LiveSession;
  if (!happenedAfter(session, event.occurred_at)) return { list, known: true };
  if (session.status === "STOPPED" && event.status === "LAUNCHING") {
    return { list, known: false }; // a new session: read the page again
  }
  if (session.status === event.status && session.reason === (event.reason ?? null)) {
    return { list, known: true };
  }
  const next: LiveSession = {
    ...session,
    status: event.status,
    reason: event.reason ?? null,
    live_at: event.occurred_at,
  };
  const sessions = list.sessions.slice();
  sessions[index] = next;
  return { list: { ...list, sessions }, known: true };
}
