import { describe, expect, it } from "vitest";
import type { RunView, StepStatusChanged } from "../api/types";
import { RecentEvents } from "./recent";

const snapshot = (status: string, started: string | null): RunView =>
  ({
    uuid: "r",
    status: "STARTED",
    pipeline_steps: [{ run_uuid: "r", step_uuid: "a", status, attempt: status === "PENDING" ? 0 : 1, started_time: started, finished_time: null, exit_code: null, error: null, artifacts: [] }],
  }) as unknown as RunView;

const event = (status: string, sequence: number): StepStatusChanged => ({
  kind: "step_status_changed",
  event_id: `r.a.${status}`,
  run_uuid: "r",
  pipeline_uuid: "p",
  step_uuid: "a",
  attempt: 1,
  status: status as StepStatusChanged["status"],
  sequence,
  exit_code: status === "SUCCESS" ? 0 : null,
  error: null,
  runner_id: null,
  artifacts: [],
  occurred_at: `2026-01-01T00:00:0${sequence}Z`,
});

describe("RecentEvents", () => {
  it("events that came before the read are applied to it (the start time kept)", () => {
    const recent = new RecentEvents();
    recent.add(event("STARTED", 2)); // before POST /api/runs answered
    const read = recent.replay(snapshot("PENDING", null));
    expect(read.pipeline_steps[0]).toMatchObject({ status: "STARTED", started_time: "2026-01-01T00:00:02Z" });
  });

  it("an event that came while an older read was in flight is not lost", () => {
    const recent = new RecentEvents();
    recent.add(event("SUCCESS", 3));
    recent.add(event("STARTED", 2)); // out of order
    const read = recent.replay(snapshot("STARTED", "2026-01-01T00:00:02Z"));
    expect(read.pipeline_steps[0]).toMatchObject({ status: "SUCCESS", exit_code: 0 });
  });

  it("a fresher read is kept as it is", () => {
    const recent = new RecentEvents();
    recent.add(event("STARTED", 2));
    const fresh = snapshot("SUCCESS", "2026-01-01T00:00:02Z");
    expect(recent.replay(fresh)).toBe(fresh);
  });
});
