import { notifyManager, QueryClient, QueryObserver } from "@tanstack/react-query";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { eventBatch } from "./batch";
import { applyInFrame } from "./commit";

describe("applyInFrame", () => {
  let frames: FrameRequestCallback[] = [];
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

  // The frame's events reach the components reading the cache before the
  // frame's callback returns: what they render is in the DOM that frame paints
  // (TanStack Query alone tells them on a later timer: a frame later).
  it("tells the cache's readers within the frame, in one commit, with every event of it", () => {
    const qc = new QueryClient();
    qc.setQueryData(["n"], [] as number[]);
    const observer = new QueryObserver<number[]>(qc, { queryKey: ["n"], enabled: false });
    const told: number[][] = [];
    const unsubscribe = observer.subscribe(notifyManager.batchCalls((result) => told.push(result.data ?? []))); // as useQuery does
    const committed: string[] = [];
    const commit = (work: () => void) => {
      work();
      committed.push("commit");
    };
    const batch = eventBatch<number>((items) =>
      applyInFrame(() => items.forEach((n) => qc.setQueryData<number[]>(["n"], (l) => [...(l ?? []), n])), commit),
    );
    batch.add(1);
    batch.add(2);
    frames[0]?.(16);
    // Told of each change (React renders once for them all, in the commit).
    expect(told).toEqual([[1], [1, 2]]);
    expect(committed).toEqual(["commit"]);
    vi.runAllTimers();
    expect(told).toHaveLength(2);
    unsubscribe();
  });

  it("leaves TanStack Query's own scheduling alone outside it", () => {
    const qc = new QueryClient();
    qc.setQueryData(["n"], 0);
    const observer = new QueryObserver<number>(qc, { queryKey: ["n"], enabled: false });
    const told: number[] = [];
    const unsubscribe = observer.subscribe(notifyManager.batchCalls((result) => told.push(result.data ?? -1)));
    applyInFrame(() => qc.setQueryData(["n"], 1), (work) => work());
    qc.setQueryData(["n"], 2);
    expect(told).toEqual([1]);
    vi.runAllTimers();
    expect(told).toEqual([1, 2]);
    unsubscribe();
  });
});
