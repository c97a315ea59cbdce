import type { NodeChange } from "@xyflow/react";
import { describe, expect, it } from "vitest";
import { measuredSizes, type Sizes } from "./flow";

const measured = (id: string, width: number, height: number): NodeChange => ({ id, type: "dimensions", dimensions: { width, height } });

describe("measuredSizes", () => {
  it("keeps each node's last measured size", () => {
    const sizes = measuredSizes(new Map(), [measured("a", 180, 60), measured("b", 190, 74)]);
    expect([...sizes]).toEqual([
      ["a", { width: 180, height: 60 }],
      ["b", { width: 190, height: 74 }],
    ]);
    expect(measuredSizes(sizes, [measured("a", 180, 80)]).get("a")).toEqual({ width: 180, height: 80 });
  });

  it("is the same map when nothing changes a size (no render for nothing)", () => {
    const sizes: Sizes = new Map([["a", { width: 180, height: 60 }]]);
    const others: NodeChange[] = [
      measured("a", 180, 60),
      { id: "a", type: "select", selected: true },
      { id: "a", type: "position", position: { x: 1, y: 2 }, dragging: true },
      { id: "a", type: "dimensions", resizing: true },
      { id: "gone", type: "remove" },
    ];
    expect(measuredSizes(sizes, others)).toBe(sizes);
  });

  it("forgets a removed node", () => {
    const sizes: Sizes = new Map([["a", { width: 180, height: 60 }]]);
    expect(measuredSizes(sizes, [{ id: "a", type: "remove" }]).has("a")).toBe(false);
  });
});
