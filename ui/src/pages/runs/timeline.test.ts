import { describe, expect, it } from "vitest";
import type { StepAttempt, StepView } from "../../api/types";
import { MIN_WIDTH, ticksOf, timelineGeometry } from "./timeline";

const T = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
const ms = (s: number) => Date.UTC(2026, 0, 1, 0, 0, s);
const step = (uuid: string, extra: Partial<StepView> = {}): StepView => ({
  run_uuid: "r",
  step_uuid: uuid,
  title: uuid.toUpperCase(),
  file_path: `${uuid}.py`,
  status: "PENDING",
  attempt: 0,
  started_time: null,
  finished_time: null,
  exit_code: null,
  error: null,
  artifacts: [],
  ...extra,
});
const attempt = (s: string, n: number, status: string, start: number | null, end: number | null): StepAttempt => ({
  step_uuid: s,
  attempt: n,
  status: status as StepAttempt["status"],
  started_time: start === null ? null : T(start),
  finished_time: end === null ? null : T(end),
  exit_code: null,
  error: null,
  artifacts: [],
});

describe("timelineGeometry", () => {
  it("a retried step has a bar per attempt on one axis", () => {
    const steps = [step("a", { status: "SUCCESS", attempt: 2 }), step("b", { status: "SUCCESS", attempt: 1 })];
    const g = timelineGeometry(steps, [attempt("a", 1, "FAILURE", 0, 2), attempt("a", 2, "SUCCESS", 4, 6), attempt("b", 1, "SUCCESS", 6, 10)], ms(99));
    expect(g?.live).toBe(false);
    const [a, b] = g!.rows;
    expect(a!.title).toBe("A");
    expect(a!.bars.map((x) => [x.attempt, x.status, x.left, x.width])).toEqual([
      [1, "FAILURE", 0, 20],
      [2, "SUCCESS", 40, 20],
    ]);
    expect(b!.bars.map((x) => [x.left, x.width, x.duration])).toEqual([[60, 40, 4000]]);
  });
  it("a running attempt grows to now, and the axis with it", () => {
    const steps = [step("a", { status: "STARTED", attempt: 1 })];
    const at5 = timelineGeometry(steps, [attempt("a", 1, "STARTED", 0, null)], ms(5))!;
    const at10 = timelineGeometry(steps, [attempt("a", 1, "STARTED", 0, null)], ms(10))!;
    expect(at5.live).toBe(true);
    expect(at5.rows[0]!.bars[0]!.duration).toBe(5000);
    expect(at10.rows[0]!.bars[0]!.duration).toBe(10000);
    expect(at10.rows[0]!.bars[0]!.end).toBeNull();
  });
  it("a step whose new attempt the attempts read lacks is drawn from its row", () => {
    const steps = [step("a", { status: "STARTED", attempt: 2, started_time: T(4) })];
    const g = timelineGeometry(steps, [attempt("a", 1, "FAILURE", 0, 2)], ms(8))!;
    expect(g.rows[0]!.bars.map((x) => [x.attempt, x.status, x.left, x.width])).toEqual([
      [1, "FAILURE", 0, 25],
      [2, "STARTED", 50, 50],
    ]);
  });
  it("nothing started: no timeline; an instant attempt stays visible inside the axis", () => {
    expect(timelineGeometry([step("a")], [], ms(1))).toBeNull();
    const g = timelineGeometry([step("a", { attempt: 1 }), step("b", { attempt: 1 })], [attempt("a", 1, "SUCCESS", 0, 10), attempt("b", 1, "FAILURE", 10, 10)], ms(10))!;
    const bar = g.rows[1]!.bars[0]!;
    expect(bar.width).toBeGreaterThanOrEqual(MIN_WIDTH - 1e-9);
    expect(bar.left + bar.width).toBeLessThanOrEqual(100 + 1e-9);
  });
  it("steps never attempted keep their row, with no bar", () => {
    const g = timelineGeometry([step("a", { attempt: 1 }), step("skipped")], [attempt("a", 1, "SUCCESS", 0, 1)], ms(2))!;
    expect(g.rows.map((r) => r.bars.length)).toEqual([1, 0]);
  });
});

describe("ticksOf", () => {
  it("about five ticks at a round step", () => {
    expect(ticksOf(10_000).map((t) => t.label)).toEqual(["+0s", "+2s", "+4s", "+6s", "+8s", "+10s"]);
    expect(ticksOf(600_000).map((t) => t.label)).toEqual(["+0s", "+2m 0s", "+4m 0s", "+6m 0s", "+8m 0s", "+10m 0s"]);
  });
});
