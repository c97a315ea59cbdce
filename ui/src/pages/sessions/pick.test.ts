import { describe, expect, it } from "vitest";
import type { SessionView } from "../../api/types";
import { otherSessions, sessionOf } from "./pick";

const s = (uuid: string, status: string, created: number, pipeline = "q"): SessionView =>
  ({ uuid, project_uuid: "p", pipeline_uuid: pipeline, status, created_time: `2026-01-01T00:00:0${created}Z` }) as SessionView;

describe("sessionOf", () => {
  it("the live session before a newer stopped one; else the newest", () => {
    expect(sessionOf([s("old", "RUNNING", 1), s("new", "STOPPED", 2)], "p", "q")?.uuid).toBe("old");
    expect(sessionOf([s("a", "STOPPED", 1), s("b", "FAILED", 3), s("c", "STOPPED", 2)], "p", "q")?.uuid).toBe("b");
    expect(sessionOf([s("a", "RUNNING", 1, "other")], "p", "q")).toBeNull();
  });
  it("otherSessions: those of no known pipeline", () => {
    expect(otherSessions([s("a", "RUNNING", 1), s("b", "RUNNING", 1, "x")], new Set(["p/q"])).map((x) => x.uuid)).toEqual(["b"]);
  });
});
