import { describe, expect, it } from "vitest";
import type { JobList, JobStatusChanged, SessionList, SessionStatusChanged } from "../api/types";
import { applyJobEvent, applyJobListEvent, applySessionListEvent, type LiveJob } from "./jobs";

const job = (): LiveJob =>
  ({ uuid: "j", name: "nightly", status: "PENDING", next_scheduled_time: null, total_scheduled_executions: 0 }) as LiveJob;

const jobEvent = (status: string, second: number, next: string | null = null): JobStatusChanged => ({
  kind: "job_status_changed",
  event_id: `j.${status}.${second}`,
  job_uuid: "j",
  status: status as JobStatusChanged["status"],
  next_scheduled_time: next,
  total_scheduled_executions: second,
  occurred_at: `2026-01-01T00:00:${String(second).padStart(2, "0")}Z`,
});

describe("job_status_changed", () => {
  it("moves the job and its next firing time", () => {
    const j = applyJobEvent(job(), jobEvent("STARTED", 1, "2026-01-02T00:00:00Z"));
    expect(j).toMatchObject({ status: "STARTED", next_scheduled_time: "2026-01-02T00:00:00Z" });
  });

  it("drops an event older than the one applied, and a duplicate", () => {
    const paused = applyJobEvent(applyJobEvent(job(), jobEvent("STARTED", 1)), jobEvent("PAUSED", 5));
    expect(applyJobEvent(paused, jobEvent("STARTED", 1))).toBe(paused);
    expect(applyJobEvent(paused, jobEvent("PAUSED", 5))).toBe(paused);
  });

  it("says when a page lacks the job", () => {
    const page = { jobs: [job()], total: 1, limit: 50, offset: 0 } as JobList;
    expect(applyJobListEvent(page, jobEvent("STARTED", 1)).known).toBe(true);
    expect(applyJobListEvent(page, { ...jobEvent("STARTED", 1), job_uuid: "x" }).known).toBe(false);
  });
});

describe("session_status_changed", () => {
  const page = (status = "LAUNCHING"): SessionList =>
    ({
      sessions: [{ uuid: "s", project_uuid: "p", pipeline_uuid: "q", status, reason: null }],
      total: 1,
      limit: 50,
      offset: 0,
    }) as SessionList;
  const event = (status: string, second: number, reason: string | null = null): SessionStatusChanged => ({
    kind: "session_status_changed",
    event_id: `s.${status}.${second}`,
    project_uuid: "p",
    pipeline_uuid: "q",
    status: status as SessionStatusChanged["status"],
    reason,
    occurred_at: `2026-01-01T00:00:${String(second).padStart(2, "0")}Z`,
  });

  it("moves the pipeline's session", () => {
    const { list, known } = applySessionListEvent(page(), event("RUNNING", 2));
    expect(known).toBe(true);
    expect(list.sessions[0]?.status).toBe("RUNNING");
  });

  it("drops an older event after a newer one", () => {
    const failed = applySessionListEvent(page(), event("FAILED", 5, "no port")).list;
    expect(failed.sessions[0]).toMatchObject({ status: "FAILED", reason: "no port" });
    expect(applySessionListEvent(failed, event("RUNNING", 2)).list).toBe(failed);
  });

  it("a launch after a stopped session is a new session: read the page again", () => {
    expect(applySessionListEvent(page("STOPPED"), event("LAUNCHING", 9)).known).toBe(false);
  });

  it("a pipeline with no session on the page is unknown", () => {
    const other = { ...event("RUNNING", 1), pipeline_uuid: "zz" };
    expect(applySessionListEvent(page(), other).known).toBe(false);
  });
});
