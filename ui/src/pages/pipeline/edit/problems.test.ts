import { describe, expect, it } from "vitest";
import { addStep, connect, newStep, type Definition } from "./model";
import { edgeId, markProblems } from "./problems";

const at = { x: 0, y: 0 };
const base = (): Definition => {
  let d: Definition = { uuid: "p", steps: {} };
  for (const s of ["a", "b", "c", "d"]) d = addStep(d, newStep(s, `${s}.py`, s, "python", at));
  return connect(connect(connect(connect(d, "a", "b"), "b", "c"), "c", "a"), "c", "d");
};

describe("problems placed on steps and connections", () => {
  it("a cycle marks every step and connection in it, and nothing else", () => {
    const cycle = { loc: ["steps", "a"], msg: "The pipeline has a cycle: a -> b -> c -> a.", type: "cycle" };
    const marks = markProblems(base(), [cycle]);
    expect([...marks.steps.keys()].sort()).toEqual(["a", "b", "c"]);
    expect([...marks.edges.keys()].sort()).toEqual([edgeId("a", "b"), edgeId("b", "c"), edgeId("c", "a")].sort());
    expect(marks.pipeline).toEqual([]);
    expect(marks.short.get("b")).toBe("in a cycle");
    expect(marks.short.get(edgeId("c", "a"))).toBe("in a cycle");
  });

  it("messages lose the uuids beside step titles", () => {
    const msg = 'The pipeline has a cycle: "load" (5c52312c-5d74-4374-851b-ef9b31b24405) -> "x" (\'b2\') -> "load" (5c52312c-5d74-4374-851b-ef9b31b24405).';
    const marks = markProblems(base(), [{ loc: ["steps", "a"], msg, type: "cycle" }]);
    expect(marks.steps.get("a")).toEqual(['The pipeline has a cycle: "load" -> "x" (\'b2\') -> "load".']);
  });

  it("a missing file marks its step; a bad connection marks that connection", () => {
    const marks = markProblems(base(), [
      { loc: ["steps", "d", "file_path"], msg: "The file 'd.py' does not exist", type: "file_missing" },
      { loc: ["steps", "d", "incoming_connections", 0], msg: "unknown step", type: "unknown_step" },
    ]);
    expect(marks.steps.get("d")).toEqual(["The file 'd.py' does not exist", "unknown step"]);
    expect([...marks.edges.keys()]).toEqual([edgeId("c", "d")]);
    expect(marks.short.get("d")).toBe("file missing");
  });

  it("a problem of no step is the pipeline's; one of a step removed since is dropped", () => {
    const marks = markProblems(base(), [{ loc: ["settings", "retries"], msg: "too many", type: "x" }, { loc: ["steps", "gone"], msg: "?", type: "x" }]);
    expect(marks.pipeline).toEqual(["settings.retries: too many"]);
    expect(marks.steps.size).toBe(0);
  });
});
