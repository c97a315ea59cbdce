import { describe, expect, it } from "vitest";
import type { StepStatusChanged } from "../api/types";
import { applyAttemptEvent, attemptsOf, LOST, type LiveAttempts } from "./attempts";

const empty = (): LiveAttempts => ({ run_uuid: "r", attempts: [] });
const at = (s: number) => `2026-01-01T00:00:${String(s).padStart(2, "0")}Z`;
function event(step: string, attempt: number, status: string, second: number, extra = {}): StepStatusChanged {
  return {
    kind: "step_status_changed",
    event_id: `r.${step}.${attempt}.${status}`,
    run_uuid: "r",
    pipeline_uuid: "p",
    step_uuid: step,
    attempt,
    status: status as StepStatusChanged["status"],
    sequence: second,
    exit_code: null,
    error: null,
    runner_id: null,
    artifacts: [],
    occurred_at: at(second),
    ...extra,
  };
}
const apply = (events: StepStatusChanged[], start = empty()) => events.reduce(applyAttemptEvent, start);
const brief = (l: LiveAttempts) => l.attempts.map((a) => [a.step_uuid, a.attempt, a.status, a.started_time, a.finished_time]);

describe("applyAttemptEvent", () => {
  it("a retried step gets a second attempt; the first keeps its exit code and error", () => {
    const l = apply([
      event("a", 1, "PENDING", 0),
      event("a", 1, "STARTED", 1),
      event("a", 1, "FAILURE", 3, { exit_code: 3, error: "exit code 3" }),
      event("a", 2, "PENDING", 3),
      event("a", 2, "STARTED", 5),
    ]);
    expect(brief(l)).toEqual([
      ["a", 1, "FAILURE", at(1), at(3)],
      ["a", 2, "STARTED", at(5), null],
    ]);
    expect(l.attempts[0]).toMatchObject({ exit_code: 3, error: "exit code 3" });
  });
  it("a duplicate is the same list", () => {
    const l = apply([event("a", 1, "STARTED", 1), event("a", 1, "SUCCESS", 2)]);
    expect(applyAttemptEvent(l, event("a", 1, "SUCCESS", 2))).toBe(l);
    expect(applyAttemptEvent(l, event("a", 1, "STARTED", 1))).toBe(l);
  });
  it("out of order: the end before the start keeps the end and gains the start time", () => {
    const l = apply([event("a", 1, "SUCCESS", 4, { exit_code: 0 }), event("a", 1, "STARTED", 2)]);
    expect(brief(l)).toEqual([["a", 1, "SUCCESS", at(2), at(4)]]);
  });
  it("a running attempt superseded by the next lost its runner; its own late end still counts", () => {
    const lapsed = apply([event("a", 1, "STARTED", 1), event("a", 2, "PENDING", 9, { error: "attempt 1 lost its runner" })]);
    expect(lapsed.attempts[0]).toMatchObject({ status: "FAILURE", finished_time: at(9), error: "attempt 1 lost its runner" });
    const redelivered = apply([event("a", 1, "STARTED", 1), event("a", 2, "STARTED", 9)]);
    expect(redelivered.attempts[0]).toMatchObject({ status: "FAILURE", error: LOST });
    const late = applyAttemptEvent(redelivered, event("a", 1, "FAILURE", 8, { exit_code: 1, error: "boom" }));
    expect(late.attempts[0]).toMatchObject({ status: "FAILURE", exit_code: 1, error: "boom", finished_time: at(8) });
  });
  it("ignores other runs and attempt 0 (aborted before any attempt)", () => {
    const l = empty();
    expect(applyAttemptEvent(l, { ...event("a", 1, "STARTED", 1), run_uuid: "other" })).toBe(l);
    expect(applyAttemptEvent(l, event("a", 0, "ABORTED", 1))).toBe(l);
  });
  it("attemptsOf picks a step's attempts, oldest first", () => {
    const l = apply([event("b", 1, "STARTED", 1), event("a", 2, "STARTED", 3), event("a", 1, "FAILURE", 2)]);
    expect(attemptsOf(l, "a").map((a) => a.attempt)).toEqual([1, 2]);
    expect(attemptsOf(undefined, "a")).toEqual([]);
  });
});
