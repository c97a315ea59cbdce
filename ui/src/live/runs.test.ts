import { describe, expect, it } from "vitest";
import type { RunList, RunStatusChanged, StepStatusChanged } from "../api/types";
import { applyRunEvent, applyRunListEvent, progressOf, type LiveRun } from "./runs";

const RUN = "run-1";

function run(steps: [string, string, number?][] = [["a", "PENDING"], ["b", "PENDING"]]): LiveRun {
  return {
    uuid: RUN,
    pipeline_uuid: "pl",
    project_uuid: "p",
    job_uuid: null,
    run_type: "full",
    status: "PENDING",
    created_time: "2026-01-01T00:00:00Z",
    started_time: null,
    finished_time: null,
    job_run_index: null,
    job_run_pipeline_run_index: null,
    parameters: null,
    pipeline_steps: steps.map(([uuid, status, attempt]) => ({
      run_uuid: RUN,
      step_uuid: uuid,
      title: uuid,
      file_path: `${uuid}.py`,
      status: status as LiveRun["status"],
      attempt: attempt ?? 0,
      started_time: null,
      finished_time: null,
      exit_code: null,
      error: null,
      artifacts: [],
    })),
  };
}

function stepEvent(step: string, status: string, sequence: number, attempt = 1, extra = {}): StepStatusChanged {
  return {
    kind: "step_status_changed",
    event_id: `${RUN}.${step}.${attempt}.${status}`,
    artifacts: [],
    run_uuid: RUN,
    pipeline_uuid: "pl",
    step_uuid: step,
    attempt,
    status: status as StepStatusChanged["status"],
    sequence,
    exit_code: null,
    error: null,
    runner_id: null,
    occurred_at: `2026-01-01T00:00:${String(sequence).padStart(2, "0")}Z`,
    ...extra,
  };
}

function runEvent(status: string, sequence: number): RunStatusChanged {
  return {
    kind: "run_status_changed",
    event_id: `${RUN}.${status}`,
    run_uuid: RUN,
    pipeline_uuid: "pl",
    job_uuid: null,
    status: status as RunStatusChanged["status"],
    sequence,
    occurred_at: `2026-01-01T00:00:${String(sequence).padStart(2, "0")}Z`,
  };
}

const statusOf = (r: LiveRun, step: string) => r.pipeline_steps.find((s) => s.step_uuid === step)?.status;

describe("run_status_changed", () => {
  it("moves the run and stamps its times", () => {
    const started = applyRunEvent(run(), runEvent("STARTED", 1));
    expect(started.status).toBe("STARTED");
    expect(started.started_time).toBe("2026-01-01T00:00:01Z");
    const ended = applyRunEvent(started, runEvent("SUCCESS", 9));
    expect(ended.status).toBe("SUCCESS");
    expect(ended.finished_time).toBe("2026-01-01T00:00:09Z");
  });

  it("ignores a duplicate and an event overtaken by a later one", () => {
    const ended = applyRunEvent(applyRunEvent(run(), runEvent("STARTED", 1)), runEvent("ABORTED", 5));
    expect(applyRunEvent(ended, runEvent("ABORTED", 5))).toBe(ended);
    expect(applyRunEvent(ended, runEvent("STARTED", 1))).toBe(ended);
  });

  it("never moves a fresher snapshot back", () => {
    const snapshot = { ...run(), status: "SUCCESS" as const };
    expect(applyRunEvent(snapshot, runEvent("STARTED", 1))).toBe(snapshot);
  });

  it("ignores another run's events", () => {
    const r = run();
    expect(applyRunEvent(r, { ...runEvent("STARTED", 1), run_uuid: "other" })).toBe(r);
  });
});

describe("step_status_changed", () => {
  it("moves one step through its attempt", () => {
    let r = applyRunEvent(run(), stepEvent("a", "STARTED", 2));
    expect(statusOf(r, "a")).toBe("STARTED");
    expect(statusOf(r, "b")).toBe("PENDING");
    expect(r.pipeline_steps[0]?.started_time).toBe("2026-01-01T00:00:02Z");
    r = applyRunEvent(r, stepEvent("a", "FAILURE", 3, 1, { exit_code: 2, error: "boom" }));
    expect(r.pipeline_steps[0]).toMatchObject({ status: "FAILURE", exit_code: 2, error: "boom" });
    expect(r.pipeline_steps[0]?.finished_time).toBe("2026-01-01T00:00:03Z");
  });

  it("applies events delivered out of order by their sequence", () => {
    const base = run();
    const inOrder = [stepEvent("a", "STARTED", 2), stepEvent("a", "SUCCESS", 3), stepEvent("b", "STARTED", 4)];
    const shuffled = [inOrder[2], inOrder[1], inOrder[0]] as StepStatusChanged[];
    const a = inOrder.reduce(applyRunEvent, base);
    const b = shuffled.reduce(applyRunEvent, base);
    expect(statusOf(b, "a")).toBe("SUCCESS");
    expect(statusOf(b, "b")).toBe("STARTED");
    expect(b.pipeline_steps.map((s) => s.status)).toEqual(a.pipeline_steps.map((s) => s.status));
  });

  it("returns the same run for a duplicate", () => {
    const once = applyRunEvent(run(), stepEvent("a", "SUCCESS", 3));
    expect(applyRunEvent(once, stepEvent("a", "SUCCESS", 3))).toBe(once);
  });

  it("shows a retry: PENDING again with the next attempt, then STARTED", () => {
    let r = applyRunEvent(run(), stepEvent("a", "STARTED", 2, 1));
    r = applyRunEvent(r, stepEvent("a", "PENDING", 3, 2));
    expect(r.pipeline_steps[0]).toMatchObject({ status: "PENDING", attempt: 2, started_time: null });
    r = applyRunEvent(r, stepEvent("a", "STARTED", 4, 2));
    expect(r.pipeline_steps[0]).toMatchObject({ status: "STARTED", attempt: 2 });
  });

  it("without sequences in the snapshot, a late event of an earlier attempt or state is dropped", () => {
    const snapshot = run([["a", "STARTED", 2]]);
    expect(applyRunEvent(snapshot, stepEvent("a", "FAILURE", 3, 1))).toBe(snapshot);
    expect(applyRunEvent(snapshot, stepEvent("a", "PENDING", 3, 2))).toBe(snapshot);
    expect(statusOf(applyRunEvent(snapshot, stepEvent("a", "SUCCESS", 5, 2)), "a")).toBe("SUCCESS");
  });

  it("keeps the artifacts an end event names", () => {
    const r = applyRunEvent(run(), stepEvent("a", "SUCCESS", 3, 1, { artifacts: ["executed.ipynb"] }));
    expect(r.pipeline_steps[0]?.artifacts).toEqual(["executed.ipynb"]);
  });
});

describe("pages of runs", () => {
  const page = (): RunList => ({ runs: [run() as RunList["runs"][number]], total: 1, limit: 50, offset: 0 });

  it("updates the run it holds", () => {
    const { list, known } = applyRunListEvent(page(), stepEvent("a", "SUCCESS", 3));
    expect(known).toBe(true);
    expect(list.runs[0]?.pipeline_steps[0]?.status).toBe("SUCCESS");
  });

  it("says when a run is not on the page (to read it again)", () => {
    const before = page();
    const { list, known } = applyRunListEvent(before, { ...runEvent("PENDING", 1), run_uuid: "new" });
    expect(known).toBe(false);
    expect(list).toBe(before);
  });
});

describe("progress", () => {
  it("counts ended, failed and running steps", () => {
    const r = run([["a", "SUCCESS"], ["b", "FAILURE"], ["c", "STARTED"], ["d", "PENDING"]]);
    expect(progressOf(r)).toEqual({ total: 4, succeeded: 1, failed: 1, running: 1, ended: 2 });
  });
});
