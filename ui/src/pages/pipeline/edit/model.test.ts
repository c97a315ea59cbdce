import { describe, expect, it } from "vitest";
import { addStep, connect, connections, disconnect, moveSteps, newStep, placeForNew, removeSteps, setPipeline, setStep, titleOf, type Definition } from "./model";

const empty: Definition = { uuid: "p", name: "p", version: "1.0.0", settings: {}, parameters: {}, steps: {} };
const three = (): Definition => {
  let d = empty;
  d = addStep(d, newStep("a", "a.py", "a", "python", { x: 0, y: 0 }));
  d = addStep(d, newStep("b", "b.ipynb", "b", "ir", { x: 300, y: 0 }));
  d = addStep(d, newStep("c", "c.sh", "c", "python", { x: 600, y: 10.6 }));
  return connect(connect(d, "a", "b"), "b", "c");
};

describe("the pipeline as the editor changes it", () => {
  it("a new step has every field Orchest writes", () => {
    expect(newStep("s", "x/load.py", titleOf("x/load.py"), "ir", { x: 10.4, y: 20.6 })).toEqual({
      uuid: "s",
      title: "load",
      file_path: "x/load.py",
      incoming_connections: [],
      environment: "",
      kernel: { name: "ir", display_name: "R" },
      parameters: {},
      meta_data: { hidden: false, position: [10, 21] },
    });
  });

  it("connects, refusing a self-loop, a duplicate and an unknown step", () => {
    const d = three();
    expect(connections(d)).toEqual([["a", "b"], ["b", "c"]]);
    expect(connect(d, "a", "a")).toBe(d);
    expect(connect(d, "a", "b")).toBe(d);
    expect(connect(d, "a", "nope")).toBe(d);
    expect(connect(d, "nope", "a")).toBe(d);
  });

  it("allows a cycle through other steps (the server names it)", () => {
    expect(connections(connect(three(), "c", "a"))).toContainEqual(["c", "a"]);
  });

  it("disconnects", () => {
    const d = three();
    expect(connections(disconnect(d, "a", "b"))).toEqual([["b", "c"]]);
    expect(disconnect(d, "c", "a")).toBe(d);
  });

  it("removing steps removes their connections", () => {
    const d = removeSteps(three(), ["b"]);
    expect(Object.keys(d.steps ?? {})).toEqual(["a", "c"]);
    expect(connections(d)).toEqual([]);
    expect(removeSteps(d, ["zz"])).toBe(d);
  });

  it("moves steps to whole positions; the same place changes nothing", () => {
    const d = three();
    const moved = moveSteps(d, new Map([["a", { x: 5.5, y: 7.2 }], ["c", { x: 600, y: 11 }]]));
    expect(moved.steps?.a?.meta_data?.position).toEqual([6, 7]);
    expect(moved.steps?.c?.meta_data?.position).toEqual([600, 11]);
    expect(moveSteps(moved, new Map([["a", { x: 6, y: 7 }]]))).toBe(moved);
    expect(d.steps?.a?.meta_data?.position).toEqual([0, 0]); // not mutated
  });

  it("sets a step's and the pipeline's fields", () => {
    const d = setStep(three(), "a", { title: "Load", parameters: { n: 3 } });
    expect(d.steps?.a).toMatchObject({ title: "Load", parameters: { n: 3 }, file_path: "a.py" });
    expect(setStep(d, "zz", { title: "x" })).toBe(d);
    const p = setPipeline(d, { name: "renamed", settings: { retries: 2, fail_fast: true } });
    expect(p).toMatchObject({ name: "renamed", settings: { retries: 2, fail_fast: true } });
  });

  it("places a new step right of the others", () => {
    expect(placeForNew(empty)).toEqual({ x: 0, y: 0 });
    expect(placeForNew(three())).toEqual({ x: 900, y: 0 });
  });
});
