import { describe, expect, it } from "vitest";
import { stepsToRun, topologicalOrder, type Parents } from "./selection";

// The quickstart's shape: get -> clean, stats, features; clean, features -> train; train, stats -> report.
const parents: Parents = new Map([
  ["get", []],
  ["clean", ["get"]],
  ["stats", ["get"]],
  ["features", ["get"]],
  ["train", ["clean", "features"]],
  ["report", ["train", "stats"]],
]);

const sorted = (s: Set<string>) => [...s].sort();

describe("stepsToRun", () => {
  it("full: every step, selection or not", () => {
    expect(stepsToRun(parents, "full", new Set()).size).toBe(6);
  });
  it("selection: the selected steps", () => {
    expect(sorted(stepsToRun(parents, "selection", new Set(["train", "stats"])))).toEqual(["stats", "train"]);
  });
  it("incoming: the ancestors without the selection", () => {
    expect(sorted(stepsToRun(parents, "incoming", new Set(["train"])))).toEqual(["clean", "features", "get"]);
  });
  it("selection with ancestors", () => {
    expect(sorted(stepsToRun(parents, "selection_with_ancestors", new Set(["clean", "stats"])))).toEqual([
      "clean",
      "get",
      "stats",
    ]);
  });
  it("downstream: the selection and its descendants", () => {
    expect(sorted(stepsToRun(parents, "downstream", new Set(["features"])))).toEqual([
      "features",
      "report",
      "train",
    ]);
  });
  it("a selecting run with nothing selected runs nothing; unknown steps are ignored", () => {
    expect(stepsToRun(parents, "selection", new Set()).size).toBe(0);
    expect(stepsToRun(parents, "downstream", new Set(["nope"])).size).toBe(0);
  });
});

describe("topologicalOrder", () => {
  it("puts each step after its parents", () => {
    const order = topologicalOrder(parents);
    for (const [step, ps] of parents) {
      for (const p of ps) expect(order.indexOf(p)).toBeLessThan(order.indexOf(step));
    }
  });
});
