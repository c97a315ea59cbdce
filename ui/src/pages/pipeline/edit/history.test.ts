import { describe, expect, it } from "vitest";
import { canRedo, canUndo, historyReducer, MAX_UNDO, startHistory, type History, type HistoryAction } from "./history";

const run = (actions: HistoryAction<number>[], from: History<number> = startHistory(0)) =>
  actions.reduce(historyReducer<number>, from);

describe("undo and redo", () => {
  it("undoes and redoes edits in order", () => {
    const h = run([{ type: "edit", next: 1 }, { type: "edit", next: 2 }, { type: "undo" }]);
    expect(h.present).toBe(1);
    expect(canRedo(h)).toBe(true);
    expect(run([{ type: "redo" }], h).present).toBe(2);
    expect(run([{ type: "undo" }, { type: "undo" }, { type: "undo" }], h).present).toBe(0);
  });

  it("a new edit after an undo drops what could be redone", () => {
    const h = run([{ type: "edit", next: 1 }, { type: "undo" }, { type: "edit", next: 5 }]);
    expect(h).toMatchObject({ present: 5, past: [0], future: [] });
  });

  it("edits of one group undo as one; another group or an undo ends it", () => {
    const typed = run([
      { type: "edit", next: 1, group: "title" },
      { type: "edit", next: 2, group: "title" },
      { type: "edit", next: 3, group: "title" },
    ]);
    expect(typed).toMatchObject({ present: 3, past: [0] });
    const other = run([{ type: "edit", next: 4, group: "params" }], typed);
    expect(other.past).toEqual([0, 3]);
    const again = run([{ type: "undo" }, { type: "edit", next: 9, group: "title" }, { type: "edit", next: 10, group: "title" }], typed);
    expect(again).toMatchObject({ present: 10, past: [0] });
  });

  it("an edit that changes nothing is no step; undo and redo at the ends do nothing", () => {
    const h = startHistory(0);
    expect(run([{ type: "edit", next: 0 }], h)).toBe(h);
    expect(run([{ type: "undo" }], h)).toBe(h);
    expect(run([{ type: "redo" }], h)).toBe(h);
    expect(canUndo(h) || canRedo(h)).toBe(false);
  });

  it("a reset (the file read again) starts over", () => {
    const h = run([{ type: "edit", next: 1 }, { type: "edit", next: 2 }, { type: "undo" }, { type: "reset", present: 7 }]);
    expect(h).toEqual(startHistory(7));
  });

  it("keeps at most MAX_UNDO steps back", () => {
    const edits = Array.from({ length: MAX_UNDO + 20 }, (_, i): HistoryAction<number> => ({ type: "edit", next: i + 1 }));
    const h = run(edits);
    expect(h.past.length).toBe(MAX_UNDO);
    expect(h.past[0]).toBe(20);
  });
});
