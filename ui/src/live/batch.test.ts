import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { eventBatch } from "./batch";

describe("eventBatch", () => {
  let frames: FrameRequestCallback[] = [];
  const runFrame = (i: number) => {
    const frame = frames[i];
    if (!frame) throw new Error(`no frame ${i} was asked for`);
    frame(i * 16);
  };
  beforeEach(() => {
    frames = [];
    vi.useFakeTimers();
    vi.stubGlobal("requestAnimationFrame", (cb: FrameRequestCallback) => frames.push(cb));
    vi.stubGlobal("cancelAnimationFrame", () => undefined);
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  it("applies what arrived before a frame at once, in order", () => {
    const applied: number[][] = [];
    const batch = eventBatch<number>((items) => applied.push(items));
    batch.add(1);
    batch.add(2);
    batch.add(3);
    expect(applied).toEqual([]);
    expect(frames).toHaveLength(1);
    runFrame(0);
    expect(applied).toEqual([[1, 2, 3]]);
    batch.add(4);
    runFrame(1);
    expect(applied).toEqual([[1, 2, 3], [4]]);
  });

  it("applies them without frames (a hidden tab) after a short wait", () => {
    const applied: number[][] = [];
    const batch = eventBatch<number>((items) => applied.push(items));
    batch.add(1);
    batch.add(2);
    vi.advanceTimersByTime(100);
    expect(applied).toEqual([[1, 2]]);
    runFrame(0); // the frame comes late: nothing is applied twice
    expect(applied).toEqual([[1, 2]]);
  });

  it("applies nothing once cancelled", () => {
    const applied: number[][] = [];
    const batch = eventBatch<number>((items) => applied.push(items));
    batch.add(1);
    batch.cancel();
    vi.advanceTimersByTime(1000);
    expect(applied).toEqual([]);
  });
});
