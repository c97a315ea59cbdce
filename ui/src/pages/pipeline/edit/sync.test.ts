import { describe, expect, it } from "vitest";
import { onDiskRead, saveStateOf } from "./sync";

describe("a read of the file on disk", () => {
  it("the version the edits start from: nothing to do", () => {
    expect(onDiskRead({ diskEtag: "1", baseEtag: "1", dirty: true, saving: false })).toBe("keep");
  });
  it("a newer version with nothing unsaved is taken", () => {
    expect(onDiskRead({ diskEtag: "2", baseEtag: "1", dirty: false, saving: false })).toBe("reload");
  });
  it("a newer version with unsaved edits is a conflict to resolve, never taken silently", () => {
    expect(onDiskRead({ diskEtag: "2", baseEtag: "1", dirty: true, saving: false })).toBe("conflict");
  });
  it("while a save is in flight the read waits for its answer", () => {
    expect(onDiskRead({ diskEtag: "2", baseEtag: "1", dirty: false, saving: true })).toBe("keep");
  });
});

describe("the save state shown", () => {
  it("a conflict wins over everything, then saving, then a failure", () => {
    expect(saveStateOf({ dirty: true, saving: true, conflict: true, failed: true })).toBe("conflict");
    expect(saveStateOf({ dirty: true, saving: true, conflict: false, failed: true })).toBe("saving");
    expect(saveStateOf({ dirty: true, saving: false, conflict: false, failed: true })).toBe("error");
    expect(saveStateOf({ dirty: true, saving: false, conflict: false, failed: false })).toBe("unsaved");
    expect(saveStateOf({ dirty: false, saving: false, conflict: false, failed: false })).toBe("saved");
  });
});
